import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadFer2013 } from '../../src/data/fer2013';
import { FERPLUS_CLASSES, loadFerPlus } from '../../src/data/ferplus';
import { classCounts } from '../../src/data/stats';

const dir = mkdtempSync(join(tmpdir(), 'ferplus-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const write = (name: string, text: string) => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};

const HEADER = 'Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF';
// Votes per row: neutral, happiness, surprise, sadness, anger, disgust, fear, contempt, unknown, NF.
const VOTES = [
  ['Training', 'fer0.png', '6,2,0,0,0,0,0,2,0,0'], // 0: neutral
  ['Training', '', '0,0,0,0,0,0,0,0,0,10'], // 1: not a face (FER+ made no image)
  ['Training', 'fer1.png', '4,4,0,0,0,0,0,0,2,0'], // 2: tie neutral/happiness
  ['Training', 'fer2.png', '1,1,0,0,0,0,0,0,6,2'], // 3: unknown
  ['PublicTest', 'fer4.png', '0,0,0,1,0,0,0,9,0,0'], // 4: contempt (FER2013 has no such class)
  ['PublicTest', 'fer3.png', '0,0,3,0,0,0,5,0,2,0'], // 5: fear; the name is not the row index
];

async function fixture() {
  const pixels = (k: number) => `${k} ${k + 1} ${k + 2} ${k + 3}`;
  const fer = write(
    'fer.csv',
    `emotion,pixels,Usage\n${VOTES.map((v, i) => `${i % 7},${pixels(i * 10)},${v[0]}`).join('\n')}\n`,
  );
  const votes = write('votes.csv', `${HEADER}\n${VOTES.map((v) => v.join(',')).join('\n')}\n`);
  return { fer, votes };
}

describe('loadFerPlus', () => {
  it('majority mode keeps clear winners and drops unknown, not-a-face and tied rows', async () => {
    const { fer, votes } = await fixture();
    const ds = await loadFerPlus(await loadFer2013(fer, { size: 2 }), votes, { mode: 'majority' });
    expect(ds.classNames).toEqual([...FERPLUS_CLASSES]);
    expect(Array.from(ds.rows)).toEqual([0, 4, 5]);
    expect(Array.from(ds.labels)).toEqual([0, 7, 6]); // neutral, contempt, fear
    expect(Array.from(ds.images)).toEqual([0, 1, 2, 3, 40, 41, 42, 43, 50, 51, 52, 53]);
    expect(Array.from(ds.usages!)).toEqual([0, 1, 1]);
    expect(ds.dropped).toEqual([
      { row: 1, reason: 'notFace' },
      { row: 2, reason: 'tie' },
      { row: 3, reason: 'unknown' },
    ]);
    expect(ds.droppedCounts).toEqual({ unknown: 1, notFace: 1, tie: 1, noVotes: 0 });
    expect(ds.softLabels).toBeUndefined();
    expect(Array.from(ds.votes.subarray(0, 10))).toEqual([6, 2, 0, 0, 0, 0, 0, 2, 0, 0]);
  });

  it('probability mode gives the emotion votes normalised, and keeps ties', async () => {
    const { fer, votes } = await fixture();
    const ds = await loadFerPlus(await loadFer2013(fer, { size: 2 }), votes, { mode: 'probability' });
    expect(Array.from(ds.rows)).toEqual([0, 2, 4, 5]);
    const soft = Array.from(ds.softLabels!);
    expect(soft.slice(0, 8)).toEqual([0.6, 0.2, 0, 0, 0, 0, 0, 0.2].map(Math.fround));
    expect(soft.slice(8, 16)).toEqual([0.5, 0.5, 0, 0, 0, 0, 0, 0]);
    expect(soft.slice(24, 32)).toEqual([0, 0, 3 / 8, 0, 0, 0, 5 / 8, 0].map(Math.fround));
    for (let i = 0; i < ds.count; i++) {
      expect(soft.slice(i * 8, i * 8 + 8).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    }
    expect(Array.from(ds.labels)).toEqual([0, 0, 7, 6]);
  });

  it('joins by file row, so a usage-filtered FER2013 set still lines up', async () => {
    const { fer, votes } = await fixture();
    const pub = await loadFer2013(fer, { size: 2, usages: ['PublicTest'] });
    const ds = await loadFerPlus(pub, votes);
    expect(Array.from(ds.rows)).toEqual([4, 5]);
    expect(Array.from(ds.labels)).toEqual([7, 6]);
  });

  it('rejects bad options', async () => {
    const { fer, votes } = await fixture();
    const ds = await loadFer2013(fer, { size: 2 });
    await expect(loadFerPlus(ds, votes, { mode: 'soft' as never })).rejects.toThrow(/`mode`/);
    await expect(loadFerPlus(ds, '')).rejects.toThrow(/`votesCsvPath`/);
    // Without `rows`, the counts must match exactly.
    const { rows: _rows, ...plain } = ds;
    await expect(loadFerPlus({ ...plain, count: 5 }, votes)).rejects.toThrow(/`votes` to be 5 data rows/);
  });
});

const FER = '/work/shared/data/fer2013/fer2013.csv.gz';
const VOTES_FILE = '/work/shared/data/ferplus/fer2013new.csv';

describe.skipIf(!existsSync(FER) || !existsSync(VOTES_FILE))('loadFerPlus on the real files', () => {
  it('joins all 32,298 rows; majority drops unknown, not-a-face and ties', async () => {
    const fer = await loadFer2013(FER);
    const majority = await loadFerPlus(fer, VOTES_FILE, { mode: 'majority' });
    const dropped = majority.droppedCounts;
    expect(majority.count + majority.dropped.length).toBe(32298);
    // The 158 rows without a FER+ image have 10 NF votes; 161 not-a-face rows in all.
    expect(dropped.notFace).toBe(161);
    expect(dropped.noVotes).toBe(0);
    expect(majority.count).toBe(30336);
    expect(classCounts(majority)).toEqual([10607, 8290, 3819, 3798, 2709, 206, 721, 186]);
    const probability = await loadFerPlus(fer, VOTES_FILE, { mode: 'probability' });
    expect(probability.count).toBe(32298 - 161 - 195);
    expect(probability.softLabels!.length).toBe(probability.count * 8);
  });
});
