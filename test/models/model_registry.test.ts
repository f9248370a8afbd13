import { describe, expect, it } from 'vitest';
import { ResidualBlock } from '../../src/layers/residual_block';
import {
  createModel,
  getModelPreset,
  listModels,
  presetName,
  registerModel,
} from '../../src/models/model_registry';
import { countTrainableParams, RESNET_DEPTHS, resnetCbam } from '../../src/models/resnet_cbam';

describe('model registry', () => {
  it('has a plain, a paper and an every-block preset for every depth', () => {
    const names = listModels();
    for (const depth of Object.keys(RESNET_DEPTHS)) {
      expect(names).toEqual(
        expect.arrayContaining([`resnet${depth}`, `resnet${depth}-cbam`, `resnet${depth}-cbam-every`]),
      );
    }
    expect(getModelPreset('resnet34-cbam').options).toEqual({
      depth: 34,
      attention: 'cbam',
      placement: 'paper',
    });
    expect(getModelPreset('resnet18').description).toMatch(/no attention/);
  });

  // Every preset builds (narrow and small so that even ResNet-152 takes milliseconds).
  it.each(listModels())('%s builds', (name) => {
    const model = createModel(name, { width: 2, inputShape: [8, 8, 1], kernelInitializer: 'zeros' });
    const { depth } = getModelPreset(name).options as { depth: number };
    const blocks = model.layers.filter((l) => l instanceof ResidualBlock).length;
    expect(blocks).toBe(RESNET_DEPTHS[depth]!.blocks.reduce((a, b) => a + b, 0));
    expect(model.outputs[0]!.shape).toEqual([null, 7]);
    model.dispose();
  });

  it('presets give the reference models; overrides win, blocks replace depth', () => {
    const model = createModel('resnet18-cbam-every', { kernelInitializer: 'zeros' });
    expect(countTrainableParams(model)).toBe(11_261_151);
    expect(model.name).toBe('resnet18_cbam_every');
    const custom = createModel('resnet18-cbam', { blocks: [1, 1], width: 4, numClasses: 8 });
    expect(custom.name).toBe('resnet_1_1_cbam_paper');
    expect(custom.outputs[0]!.shape).toEqual([null, 8]);
    const same = resnetCbam({
      blocks: [1, 1],
      width: 4,
      numClasses: 8,
      attention: 'cbam',
      placement: 'paper',
    });
    expect(countTrainableParams(custom)).toBe(countTrainableParams(same));
    for (const m of [model, custom, same]) m.dispose();
  });

  it('registers user presets and rejects unknown or malformed names', () => {
    registerModel('tiny-se', {
      description: 'test preset',
      options: { depth: 10, width: 2, inputShape: [8, 8, 1], attention: 'se', placement: 'everyBlock' },
    });
    expect(listModels()).toContain('tiny-se');
    const block = createModel('tiny-se').getLayer('stage1_block1') as ResidualBlock;
    expect(block.attention).toBe('se');
    expect(() => createModel('resnet19')).toThrow(
      /getModelPreset: expected `name` to be one of resnet10, resnet10-cbam, .*, but got "resnet19"/,
    );
    expect(() => registerModel('Bad Name', { description: '', options: {} })).toThrow(
      /registerModel.*`name`/,
    );
    expect(() => registerModel('ok', null as never)).toThrow(/`preset`/);
  });

  it('names every network once: parsed names build the network their name says', () => {
    expect(getModelPreset('resnet10w16-cbam').options).toEqual({
      depth: 10,
      width: 16,
      attention: 'cbam',
      placement: 'paper',
    });
    expect(getModelPreset('resnet18w32-eca-every').options).toEqual({
      depth: 18,
      width: 32,
      attention: 'eca',
      placement: 'everyBlock',
    });
    expect(getModelPreset('resnet34w8').options).toEqual({ depth: 34, width: 8, attention: null });
    const parsed = createModel('resnet10w16-cbam', { kernelInitializer: 'zeros' });
    const direct = resnetCbam({ depth: 10, width: 16, placement: 'paper', kernelInitializer: 'zeros' });
    expect(countTrainableParams(parsed)).toBe(countTrainableParams(direct));
    expect(parsed.countParams()).toBe(312_028); // the shipped fer2013 model's network
    for (const m of [parsed, direct]) m.dispose();
    // Each registered built-in preset's options give back its name; parsed names round-trip too.
    for (const name of listModels().filter((n) => n.startsWith('resnet'))) {
      expect(presetName(getModelPreset(name).options)).toBe(name);
    }
    for (const name of ['resnet10w16-cbam', 'resnet18w32-se-every', 'resnet50w8', 'resnet10w24-coord']) {
      expect(presetName(getModelPreset(name).options)).toBe(name);
    }
    expect(presetName({ blocks: [1, 1] })).toBeNull();
    expect(presetName({ depth: 18, placement: { afterStem: true } })).toBeNull();
    // One name per network: the default width is never spelt out (the error gives the name to use,
    // issue 31); unknown parts are refused.
    expect(() => getModelPreset('resnet18w64-cbam')).toThrow(
      /expected `name` to be "resnet18-cbam" \(64 is the default width, so a network of width 64 is named without "w64"\), but got "resnet18w64-cbam"/,
    );
    expect(() => getModelPreset('resnet34w64-se-every')).toThrow(/to be "resnet34-se-every"/);
    for (const bad of ['resnet10w0', 'resnet10-foo', 'resnet11w16', 'resnet10-every', 'resnet11w64']) {
      expect(() => getModelPreset(bad)).toThrow(/or resnet<depth>\[w<width>\]\[-<attention>\[-every\]\]/);
    }
  });
});
