/**
 * FER2013 loader throughput, side by side with the usual pandas baseline on the same file.
 *
 *   npx tsx bench/fer2013_loader.ts [path] [--repeat N] [--json FILE]
 *
 * `path` defaults to ../shared/data/fer2013/fer2013.csv.gz. Runs `loadFer2013` and
 * `bench/pandas_baseline.py` (`/usr/bin/python3`: pandas.read_csv + np.fromstring) alternately,
 * `repeat` times each (default 3), and prints best and median seconds and the ratio. A benchmark,
 * never a test: numbers depend on the machine and its load.
 */
import { execFile } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { loadFer2013 } from '../src/data/fer2013';

const here = dirname(fileURLToPath(import.meta.url));

/** Result of {@link benchFer2013Loader}. */
export interface LoaderBench {
  /** Best wall-clock seconds over the runs. */
  seconds: number;
  /** Seconds of every run, in order (the first one includes JIT warm-up). */
  runs: number[];
  /** Rows loaded. */
  rows: number;
  /** Rows per second at the best run. */
  rowsPerSec: number;
  /** File megabytes (as stored, e.g. compressed) per second at the best run. */
  fileMBPerSec: number;
}

/**
 * Times `loadFer2013(path)` (all rows) `repeat` times in this process.
 * @param path The FER2013 CSV, plain or gzip.
 * @param repeat Number of runs. Defaults to `1`.
 */
export async function benchFer2013Loader(path: string, repeat = 1): Promise<LoaderBench> {
  const runs: number[] = [];
  let rows = 0;
  for (let r = 0; r < repeat; r++) {
    const t0 = performance.now();
    const ds = await loadFer2013(path);
    runs.push((performance.now() - t0) / 1000);
    rows = ds.count;
  }
  const seconds = Math.min(...runs);
  return {
    seconds,
    runs,
    rows,
    rowsPerSec: rows / seconds,
    fileMBPerSec: statSync(path).size / 1e6 / seconds,
  };
}

/** Result of {@link benchPandasBaseline}. */
export interface PandasBench {
  seconds: number;
  runs: number[];
  rows: number;
  pandas: string;
  numpy: string;
}

/**
 * Times bench/pandas_baseline.py on the same file (`repeat` runs inside one Python process), or
 * returns `null` with the reason when Python or pandas is not available.
 * @param path The FER2013 CSV, plain or gzip.
 * @param repeat Number of runs. Defaults to `1`.
 * @param python The interpreter. Defaults to `/usr/bin/python3` (Debian's, with pandas).
 */
export async function benchPandasBaseline(
  path: string,
  repeat = 1,
  python = '/usr/bin/python3',
): Promise<PandasBench | { unavailable: string }> {
  try {
    const { stdout } = await promisify(execFile)(
      python,
      [join(here, 'pandas_baseline.py'), path, '--repeat', String(repeat)],
      { maxBuffer: 1 << 20 },
    );
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as PandasBench;
  } catch (e) {
    return { unavailable: (e as Error).message.split('\n')[0]! };
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flag = (name: string) => {
    const i = args.indexOf(name);
    if (i < 0) return undefined;
    const value = args[i + 1];
    args.splice(i, 2);
    return value;
  };
  const repeat = Number(flag('--repeat') ?? 3);
  const json = flag('--json');
  const path = resolve(args[0] ?? join(here, '../../shared/data/fer2013/fer2013.csv.gz'));
  if (!existsSync(path)) {
    console.error(`bench/fer2013_loader: ${path} does not exist; pass the path of fer2013.csv[.gz].`);
    process.exit(2);
  }
  console.log(
    `file: ${path} (${(statSync(path).size / 1e6).toFixed(1)} MB), ${repeat} runs each, alternating`,
  );
  const ours: number[] = [];
  const theirs: number[] = [];
  let rows = 0;
  let pandasInfo: PandasBench | { unavailable: string } | null = null;
  for (let r = 0; r < repeat; r++) {
    const a = await benchFer2013Loader(path, 1);
    ours.push(a.seconds);
    rows = a.rows;
    const b = await benchPandasBaseline(path, 1);
    pandasInfo = b;
    if ('unavailable' in b) break;
    theirs.push(b.seconds);
  }
  const row = (name: string, runs: number[]) =>
    `${name.padEnd(34)} best ${Math.min(...runs).toFixed(3)} s   median ${median(runs).toFixed(3)} s   runs ${runs
      .map((s) => s.toFixed(2))
      .join(', ')}`;
  console.log(row('fer-cbam loadFer2013 (streamed)', ours));
  console.log(`  ${rows} rows, ${(rows / Math.min(...ours)).toFixed(0)} rows/s at best`);
  const result: Record<string, unknown> = {
    file: path,
    rows,
    loadFer2013: { best: Math.min(...ours), median: median(ours), runs: ours },
  };
  if (pandasInfo && 'unavailable' in pandasInfo) {
    console.log(`pandas baseline: not run (${pandasInfo.unavailable})`);
  } else if (pandasInfo) {
    console.log(row(`pandas ${pandasInfo.pandas} + np.fromstring`, theirs));
    const ratioBest = Math.min(...theirs) / Math.min(...ours);
    const ratioMedian = median(theirs) / median(ours);
    console.log(
      `speed-up: ${ratioBest.toFixed(2)}x (best vs best), ${ratioMedian.toFixed(2)}x (median vs median)`,
    );
    result.pandas = {
      best: Math.min(...theirs),
      median: median(theirs),
      runs: theirs,
      version: pandasInfo.pandas,
    };
    result.speedup = { best: ratioBest, median: ratioMedian };
  }
  if (json) writeFileSync(json, `${JSON.stringify(result, null, 2)}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
