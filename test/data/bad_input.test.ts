/**
 * The bad-input corpus (test/fixtures/data/, written by test/fixtures/data/generate.ts): every case
 * must fail with a DataFormatError that names the file (or folder) and, for CSV rows, the line, and
 * says what is wrong.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCkPlus } from '../../src/data/ckplus';
import { DataFormatError } from '../../src/data/data_error';
import { type LoadFer2013Options, loadFer2013 } from '../../src/data/fer2013';
import { loadFerPlus } from '../../src/data/ferplus';
import { loadImageFolder } from '../../src/data/image_folder';

const FIX = join(import.meta.dirname, '../fixtures/data');
const fx = (rel: string) => join(FIX, rel);

interface Case {
  name: string;
  run: () => Promise<unknown>;
  /** The path the error must name (the DataFormatError's `file`). */
  file: string;
  /** The line the error must name, when there is one. */
  line?: number;
  /** What the message must say. */
  says: RegExp;
}

const fer = (
  rel: string,
  line: number | undefined,
  says: RegExp,
  options: LoadFer2013Options = { size: 2 },
) => ({
  name: `fer2013/${rel}`,
  run: () => loadFer2013(fx(`fer2013/${rel}`), options),
  file: fx(`fer2013/${rel}`),
  line,
  says,
});

const ferPlus = (rel: string, line: number | undefined, says: RegExp) => ({
  name: `ferplus/${rel}`,
  run: async () =>
    loadFerPlus(await loadFer2013(fx('ferplus/fer2013_three_rows.csv'), { size: 2 }), fx(`ferplus/${rel}`)),
  file: fx(`ferplus/${rel}`),
  line,
  says,
});

const cases: Case[] = [
  // FER2013: the file as a whole.
  fer(
    'empty.csv',
    undefined,
    /expected `file` to be a CSV with the header `emotion,pixels,Usage`, but got "an empty file"/,
  ),
  fer('bom_only.csv', undefined, /an empty file/),
  fer(
    'blank_header.csv',
    1,
    /expected `header` to be the header `emotion,pixels,Usage`, but got "an empty line"/,
  ),
  fer('missing_pixels_column.csv', 1, /a header with an `pixels` column .*"emotion,Usage"/),
  fer('missing_emotion_column.csv', 1, /a header with an `emotion` column/),
  fer('no_usage_column.csv', 1, /a `Usage` column, since the `usages` option was given/, {
    size: 2,
    usages: ['Training'],
  }),
  fer('duplicate_column.csv', 1, /a header with one `pixels` column/),
  fer('wrong_header.csv', 1, /`emotion` column .*"label,image,split"/),
  fer('binary_garbage.csv', 1, /expected `header`/),
  fer(
    'truncated.csv.gz',
    undefined,
    /the gzip data is truncated: it ends inside line \d+, after \d+ complete data rows/,
  ),
  fer('corrupt.csv.gz', undefined, /the gzip data is corrupt/),
  {
    name: 'fer2013: a path that does not exist',
    run: () => loadFer2013(fx('fer2013/no-such-file.csv')),
    file: fx('fer2013/no-such-file.csv'),
    says: /cannot read the file \(ENOENT/,
  },
  {
    name: 'fer2013: a directory',
    run: () => loadFer2013(fx('fer2013')),
    file: fx('fer2013'),
    says: /expected `path` to be a file, but got "a directory"/,
  },
  // FER2013: one bad row (line 3 unless said otherwise).
  fer(
    'row_missing_column.csv',
    3,
    /expected `row` to be 3 comma-separated columns \(emotion,pixels,Usage\), but got "2 columns"/,
  ),
  fer('row_extra_column.csv', 3, /but got "4 columns"/),
  fer(
    'too_few_pixels.csv',
    3,
    /expected `pixels` to be 4 integers \(2x2\) separated by spaces, but got "3 values"/,
  ),
  fer('too_many_pixels.csv', 3, /but got "5 values"/),
  fer(
    'non_numeric_pixel.csv',
    3,
    /expected `pixels` to be integers in 0-255 separated by spaces, but got "the character 'x' in pixel 3"/,
  ),
  fer('negative_pixel.csv', 3, /the character '-' in pixel 2/),
  fer('decimal_pixel.csv', 3, /the character '\.' in pixel 2/),
  fer('pixel_out_of_range.csv', 3, /expected `pixels` to be integers in 0-255, but got "256 \(pixel 2\)"/),
  fer('pixel_huge.csv', 3, /integers in 0-255, but got "\d+ \(pixel 2\)"/),
  fer('empty_pixels.csv', 3, /but got "0 values"/),
  fer('label_out_of_range.csv', 3, /expected `emotion` to be an integer label in 0-6, but got 7/),
  fer(
    'label_negative.csv',
    3,
    /expected `emotion` to be an integer label in 0-6, but got "the character '-'"/,
  ),
  fer('label_non_numeric.csv', 3, /the character 'h'/),
  fer('label_empty.csv', 3, /expected `emotion` to be an integer label in 0-6, but got "an empty field"/),
  fer(
    'label_two_numbers.csv',
    3,
    /expected `emotion` to be one integer, but got "several space-separated values"/,
  ),
  fer(
    'unknown_usage.csv',
    3,
    /expected `Usage` to be one of Training, PublicTest, PrivateTest, but got "Validation"/,
  ),
  fer('empty_usage.csv', 3, /expected `Usage` to be one of .*, but got ""/),
  fer('truncated_plain.csv', 3, /expected `row` to be 3 comma-separated columns .*, but got "2 columns"/),
  fer('crlf_error_line4.csv', 4, /the character 'x' in pixel 4/),
  fer('bom_error_line3.csv', 3, /but got 9/),
  fer('blank_lines_error_line5.csv', 5, /but got "3 values"/),
  fer(
    'full_size_wrong_count.csv',
    3,
    /expected `pixels` to be 2304 integers \(48x48\) separated by spaces, but got "2303 values"/,
    {},
  ),
  // FER+ votes, joined to a 3-row FER2013 set.
  ferPlus('bad_header.csv', 1, /expected `header` to be the FER\+ header `Usage,Image name,neutral,/),
  ferPlus(
    'non_numeric_vote.csv',
    3,
    /expected `happiness` to be a vote count \(an integer in 0-255\), but got "ten"/,
  ),
  ferPlus('short.csv', undefined, /expected `votes` to be at least 3 data rows .*, but got "2 rows"/),
  ferPlus(
    'usage_mismatch.csv',
    3,
    /expected `Usage` to be Training as in FER2013 data row 1 \(are the files aligned\?\), but got "PublicTest"/,
  ),
  ferPlus(
    'wrong_column_count.csv',
    3,
    /expected `row` to be 12 comma-separated columns, but got "11 columns"/,
  ),
  ferPlus(
    'bad_usage.csv',
    2,
    /expected `Usage` to be one of Training, PublicTest, PrivateTest, but got "Train"/,
  ),
  ferPlus('empty.csv', undefined, /expected `file` to be a FER\+ votes CSV, but got "an empty file"/),
  // Image folders.
  {
    name: 'images: a file that is not an image',
    run: () => loadImageFolder(fx('images/unreadable')),
    file: fx('images/unreadable/happy/broken.png'),
    says: /cannot decode the image \(.+\)/,
  },
  {
    name: 'images: an empty .jpg',
    run: () => loadImageFolder(fx('images/empty_jpeg')),
    file: fx('images/empty_jpeg/sad/zero.jpg'),
    says: /cannot decode the image/,
  },
  {
    name: 'images: a class folder not in classNames',
    run: () => loadImageFolder(fx('images/unknown_class'), { classNames: ['happy', 'sad'] }),
    file: fx('images/unknown_class/smile'),
    says: /expected `class folder` to be one of the class names \["happy","sad"\], but got "smile"/,
  },
  {
    name: 'images: a root without class folders',
    run: () => loadImageFolder(fx('images/no_class_folders')),
    file: fx('images/no_class_folders'),
    says: /a folder with one sub-folder per class, but got "no sub-folders"/,
  },
  {
    name: 'images: a root that does not exist',
    run: () => loadImageFolder(fx('images/no-such-folder')),
    file: fx('images/no-such-folder'),
    says: /cannot read the folder \(ENOENT/,
  },
  // CK+.
  {
    name: 'ckplus: a CK+48 file name without a subject',
    run: () => loadCkPlus(fx('ckplus/name_without_subject')),
    file: fx('ckplus/name_without_subject/anger/face001.png'),
    says: /expected `file name` to be of the form S<subject>_<sequence>_<frame>\.png.*, but got "face001\.png"/,
  },
  {
    name: 'ckplus: an unknown class folder',
    run: () => loadCkPlus(fx('ckplus/unknown_class')),
    file: fx('ckplus/unknown_class/smile'),
    says: /expected `class folder` to be one of anger, contempt, disgust, fear, happy, sadness, surprise, but got "smile"/,
  },
  {
    name: 'ckplus: an unreadable image',
    run: () => loadCkPlus(fx('ckplus/unreadable')),
    file: fx('ckplus/unreadable/happy/S010_006_00000015.png'),
    says: /cannot decode the image/,
  },
  {
    name: 'ckplus: an emotion file without a number',
    run: () => loadCkPlus(fx('ckplus/original_bad_emotion_text')),
    file: fx('ckplus/original_bad_emotion_text/Emotion/S005/001/S005_001_00000004_emotion.txt'),
    line: 1,
    says: /expected `emotion code` to be an integer in 1-7 .*, but got "surprise"/,
  },
  {
    name: 'ckplus: an emotion code out of range',
    run: () => loadCkPlus(fx('ckplus/original_emotion_out_of_range')),
    file: fx('ckplus/original_emotion_out_of_range/Emotion/S005/001/S005_001_00000004_emotion.txt'),
    line: 1,
    says: /but got "9\.0000000e\+00"/,
  },
  {
    name: 'ckplus: a labelled sequence without frames',
    run: () => loadCkPlus(fx('ckplus/original_no_frames')),
    file: fx('ckplus/original_no_frames/cohn-kanade-images/S005/001'),
    says: /the frames of labelled sequence S005_001, but got "no images"/,
  },
  {
    name: 'ckplus: a frame of another subject in a sequence folder',
    run: () => loadCkPlus(fx('ckplus/original_foreign_frame')),
    file: fx('ckplus/original_foreign_frame/cohn-kanade-images/S005/001/S006_001_00000004.png'),
    says: /expected `file name` to be a frame of sequence S005_001, but got "S006_001_00000004\.png"/,
  },
];

describe('bad input corpus', () => {
  it('has at least 50 cases (more in bad_input_images.test.ts and test/cli/bad_input_cli.test.ts)', () => {
    expect(cases.length).toBeGreaterThanOrEqual(50);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const error = await c.run().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error, 'it must throw').toBeInstanceOf(DataFormatError);
    const e = error as DataFormatError;
    expect(e.file).toBe(c.file);
    expect(e.line).toBe(c.line);
    expect(e.message).toContain(c.file);
    if (c.line !== undefined) expect(e.message).toContain(`line ${c.line}:`);
    expect(e.message).toMatch(c.says);
  });
});

describe("onInvalidRow: 'skip'", () => {
  it('skips bad rows and lists each line with its reason', async () => {
    const file = fx('fer2013/several_bad_rows.csv');
    const ds = await loadFer2013(file, { size: 2, onInvalidRow: 'skip' });
    expect(ds.count).toBe(3);
    expect(ds.totalRows).toBe(7);
    expect(Array.from(ds.rows)).toEqual([0, 2, 5]);
    expect(Array.from(ds.labels)).toEqual([3, 3, 5]);
    expect(Array.from(ds.images.subarray(8))).toEqual([4, 3, 2, 1]);
    expect(ds.skipped.map((s) => s.line)).toEqual([3, 5, 6, 8]);
    expect(ds.skipped.every((s) => s.file === file)).toBe(true);
    expect(ds.skipped.map((s) => s.reason)).toEqual([
      expect.stringMatching(/"3 values"/),
      expect.stringMatching(/`emotion`.*but got 8/),
      expect.stringMatching(/`Usage`.*"Test"/),
      expect.stringMatching(/the character 'a' in pixel 4/),
    ]);
    // The same file throws at the first bad line by default.
    await expect(loadFer2013(file, { size: 2 })).rejects.toThrow(/several_bad_rows\.csv line 3: /);
  });

  it('still throws for problems that are not a row (header, gzip)', async () => {
    await expect(
      loadFer2013(fx('fer2013/wrong_header.csv'), { size: 2, onInvalidRow: 'skip' }),
    ).rejects.toThrow(/line 1/);
    await expect(
      loadFer2013(fx('fer2013/truncated.csv.gz'), { size: 2, onInvalidRow: 'skip' }),
    ).rejects.toThrow(/truncated/);
  });

  it('skips undecodable images in folders and lists them', async () => {
    const ds = await loadImageFolder(fx('images/unreadable'), { onInvalidFile: 'skip', size: 4 });
    expect(ds.count).toBe(1);
    expect(ds.files).toEqual([fx('images/unreadable/happy/good.png')]);
    expect(ds.skipped).toEqual([
      { file: fx('images/unreadable/happy/broken.png'), reason: expect.stringMatching(/cannot decode/) },
    ]);
  });

  it('the intact gzip of the truncated one loads', async () => {
    const ds = await loadFer2013(fx('fer2013/good.csv.gz'), { size: 2 });
    expect(ds.count).toBe(200);
  });
});
