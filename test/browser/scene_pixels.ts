/** Reading the demo page's scene canvas in the browser tests: where the boxes of each colour are. */
import type { Page } from 'playwright-core';

type Box = { x: number; y: number; width: number; height: number };

/** Pixels of the scene canvas near `box` (a band around it, where its label sits) of roughly `rgb`. */
export async function colourPixels(page: Page, box: Box, rgb: [number, number, number]): Promise<number> {
  return page.$eval(
    '#scene',
    (c, [b, colour]) => {
      const canvas = c as HTMLCanvasElement;
      const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
      let n = 0;
      for (let y = Math.max(0, Math.floor(b.y - 40)); y < Math.min(canvas.height, b.y + b.height + 40); y++) {
        for (let x = Math.max(0, Math.floor(b.x - 4)); x < Math.min(canvas.width, b.x + b.width + 4); x++) {
          const k = 4 * (y * canvas.width + x);
          if (
            Math.abs(data[k]! - colour[0]) < 40 &&
            Math.abs(data[k + 1]! - colour[1]) < 40 &&
            Math.abs(data[k + 2]! - colour[2]) < 40
          )
            n++;
        }
      }
      return n;
    },
    [box, rgb] as [Box, [number, number, number]],
  );
}

/** The box colours the page draws: other faces, the selected one. */
export const GREEN: [number, number, number] = [0, 230, 118];
export const BLUE: [number, number, number] = [47, 111, 222];
