/**
 * Keeps the pretrained catalog (src/pretrained/catalog.ts) in step with the shipped files: the size
 * and SHA-256 of each models/<name>/weights.bin, which loadPretrained checks. Run after replacing a
 * model's files (scripts/pack-pretrained.ts runs it for the model it packs):
 *
 *   npx tsx scripts/catalog-digests.ts            # every model in the catalog
 *   npx tsx scripts/catalog-digests.ts fer2013    # one model
 *
 * test/pretrained/pretrained.test.ts fails while the catalog and the files disagree.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../src/io/atomic';

/** The catalog file, from the repository root. */
export const CATALOG = 'src/pretrained/catalog.ts';

/** Size and SHA-256 of a model's shipped weights. */
export interface WeightsDigest {
  /** Bytes of weights.bin. */
  bytes: number;
  /** SHA-256 of weights.bin, 64 lowercase hex digits. */
  sha256: string;
}

/** Size and SHA-256 of `models/<name>/weights.bin` under `root`. */
export async function weightsDigest(root: string, name: string): Promise<WeightsDigest> {
  const bytes = await readFile(resolve(root, 'models', name, 'weights.bin'));
  return { bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/**
 * The catalog's source with `weightBytes` and `weightsSha256` of the entry `name` replaced.
 * @throws Error if the entry, or one of its two fields, is not found.
 */
export function rewriteCatalog(source: string, name: string, digest: WeightsDigest): string {
  const start = source.indexOf(`name: '${name}',`);
  if (start < 0) throw new Error(`${CATALOG}: no entry named '${name}'.`);
  const next = source.indexOf('\n  {', start);
  const end = next < 0 ? source.length : next;
  const entry = source.slice(start, end);
  const bytes = /weightBytes: \d+,/;
  const sha = /weightsSha256: '[0-9a-f]*',/;
  if (!bytes.test(entry) || !sha.test(entry)) {
    throw new Error(`${CATALOG}: the entry '${name}' has no weightBytes or weightsSha256 field to update.`);
  }
  const updated = entry
    .replace(bytes, `weightBytes: ${digest.bytes},`)
    .replace(sha, `weightsSha256: '${digest.sha256}',`);
  return source.slice(0, start) + updated + source.slice(end);
}

/** The names of the catalog's entries, in order. */
export function catalogNames(source: string): string[] {
  return [...source.matchAll(/^ {4}name: '([^']+)',$/gm)].map((m) => m[1]!);
}

/**
 * Recomputes the digests of `names` (default: every entry) from `root/models/` and rewrites the
 * catalog (atomically) when one changed. Returns the lines it reports.
 */
export async function updateCatalogDigests(root: string, names?: string[]): Promise<string[]> {
  const file = resolve(root, CATALOG);
  let source = await readFile(file, 'utf8');
  const report: string[] = [];
  for (const name of names ?? catalogNames(source)) {
    const digest = await weightsDigest(root, name);
    const next = rewriteCatalog(source, name, digest);
    report.push(
      `${name}: ${digest.bytes} bytes, sha256 ${digest.sha256}${next === source ? '' : ' (updated)'}`,
    );
    source = next;
  }
  if (source !== (await readFile(file, 'utf8'))) await writeFileAtomic(file, source);
  return report;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(fileURLToPath(import.meta.url), '../..');
  const names = process.argv.slice(2);
  for (const line of await updateCatalogDigests(root, names.length > 0 ? names : undefined))
    console.log(line);
}
