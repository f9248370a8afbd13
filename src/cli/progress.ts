import cliProgress from 'cli-progress';

/** A progress bar for long work: position, ETA and images/s; a plain line per update when not a TTY. */
export interface Progress {
  update(done: number, extra?: Record<string, string | number>): void;
  stop(): void;
}

/** Starts a progress bar of `total` units named `label` on stderr. @internal */
export function startProgress(label: string, total: number, unit = 'img'): Progress {
  const started = performance.now();
  const rate = (done: number) => {
    const seconds = (performance.now() - started) / 1000;
    return seconds > 0 ? (done / seconds).toFixed(1) : '0';
  };
  if (!process.stderr.isTTY) {
    let lastPrint = 0;
    return {
      update(done, extra = {}) {
        const now = performance.now();
        if (now - lastPrint < 2000 && done < total) return;
        lastPrint = now;
        const details = Object.entries(extra)
          .map(([k, v]) => `${k} ${v}`)
          .join(' | ');
        process.stderr.write(
          `${label} ${done}/${total} | ${rate(done)} ${unit}/s${details ? ` | ${details}` : ''}\n`,
        );
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted} | {rate} ${unit}/s {details}`,
      stream: process.stderr,
      hideCursor: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { rate: '0', details: '' });
  return {
    update(done, extra = {}) {
      const details = Object.entries(extra)
        .map(([k, v]) => `| ${k} ${v}`)
        .join(' ');
      bar.update(done, { rate: rate(done), details });
    },
    stop() {
      bar.stop();
    },
  };
}
