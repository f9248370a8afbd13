import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { FER2013_CLASSES } from '../../src/data/dataset';
import { fitClassifierToClasses, matchClassNames } from '../../src/models/class_match';
import { getPreprocessing, setPreprocessing } from '../../src/models/preprocessing';

const SORTED = ['angry', 'disgust', 'fear', 'happy', 'neutral', 'sad', 'surprise'];

describe('matchClassNames', () => {
  it('takes the same classes in any order and case as the model (its order, no new classifier)', () => {
    const m = matchClassNames(SORTED, FER2013_CLASSES);
    expect(m).toMatchObject({ kind: 'same', classNames: [...FER2013_CLASSES], newClasses: [], missing: [] });
    expect(matchClassNames(['Happy', 'ANGRY'], ['angry', 'happy'])).toMatchObject({
      kind: 'same',
      classNames: ['angry', 'happy'],
      mapping: { Happy: 'happy', ANGRY: 'angry' },
    });
  });

  it('keeps the model classes for a subset, and lists the new ones otherwise', () => {
    expect(matchClassNames(['happy', 'sad'], FER2013_CLASSES)).toMatchObject({
      kind: 'subset',
      classNames: [...FER2013_CLASSES],
      missing: ['angry', 'disgust', 'fear', 'surprise', 'neutral'],
    });
    expect(matchClassNames(['contempt', 'Happy'], FER2013_CLASSES)).toMatchObject({
      kind: 'new',
      classNames: ['contempt', 'happy'],
      newClasses: ['contempt'],
    });
  });

  it('refuses names that differ only in case', () => {
    expect(() => matchClassNames(['happy', 'Happy'], FER2013_CLASSES)).toThrow(
      /matchClassNames: expected `dataClasses` to be names that differ in more than case, but got "happy, Happy"/,
    );
  });
});

function tiny(classNames: string[]): tfl.LayersModel {
  const input = tfl.input({ shape: [4, 4, 1] });
  const flat = tfl.layers.flatten().apply(input) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: classNames.length, name: 'classifier' }).apply(flat);
  const model = tfl.model({ inputs: input, outputs: out as tfl.SymbolicTensor });
  setPreprocessing(model, { imageSize: 4, cropSize: 4, normalization: { mean: 0.5, std: 0.25 }, classNames });
  return model;
}

describe('fitClassifierToClasses', () => {
  it('returns the model itself for the same classes or a subset', () => {
    const model = tiny(['a', 'b', 'c']);
    expect(fitClassifierToClasses(model, ['C', 'a']).model).toBe(model);
    expect(fitClassifierToClasses(model, ['b', 'c', 'a']).match.kind).toBe('same');
  });

  it('gives new classes a new classifier that starts from the old weights of the known ones', () => {
    const model = tiny(['a', 'b', 'c']);
    const [kernel, bias] = model.layers
      .at(-1)!
      .getWeights()
      .map((w) => w.arraySync()) as [number[][], number[]];
    const { model: next, match } = fitClassifierToClasses(model, ['c', 'new', 'A'], { seed: 3 });
    expect(match).toMatchObject({ kind: 'new', classNames: ['c', 'new', 'a'], missing: ['b'] });
    expect(getPreprocessing(next)?.classNames).toEqual(['c', 'new', 'a']);
    expect(getPreprocessing(model)?.classNames).toEqual(['a', 'b', 'c']);
    const [k2, b2] = next.layers
      .at(-1)!
      .getWeights()
      .map((w) => w.arraySync()) as [number[][], number[]];
    expect(k2.map((row) => row[0])).toEqual(kernel.map((row) => row[2]));
    expect(k2.map((row) => row[2])).toEqual(kernel.map((row) => row[0]));
    expect([b2[0], b2[2]]).toEqual([bias[2], bias[0]]);
    expect(next.outputs[0]!.shape).toEqual([null, 3]);
    // the layers before the classifier are shared
    expect(next.layers[1]).toBe(model.layers[1]);
  });

  it('refuses a model without class names', () => {
    const input = tfl.input({ shape: [2] });
    const bare = tfl.model({
      inputs: input,
      outputs: tfl.layers.dense({ units: 2 }).apply(input) as tfl.SymbolicTensor,
    });
    expect(() => fitClassifierToClasses(bare, ['a'])).toThrow(/no preprocessing metadata/);
  });
});
