import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { integerRangePattern } from '../../src/common/validation/integer-range-pattern';

describe('integerRangePattern', () => {
  const ranges: Array<[number, number]> = [[0, 0], [7, 7], [0, 9], [9, 10], [1, 1024], [0, 3], [64, 16384], [99, 1001], [123, 4567], [1, 65535], [0, 86_400_000], [0, 1_000_000_000]];

  for (const [min, max] of ranges) {
    it(`matches exactly ${min}..${max}, without leading zeros`, () => {
      const pattern = new RegExp(integerRangePattern(min, max));
      // Every number up to a bound past the range, then the edges of large ranges.
      for (let n = 0; n <= Math.min(max + 100, 70_000); n++) assert.equal(pattern.test(String(n)), n >= min && n <= max, `${n}`);
      for (const n of [min - 1, min, max, max + 1, Math.floor((min + max) / 2), max * 10]) {
        if (n >= 0) assert.equal(pattern.test(String(n)), n >= min && n <= max, `${n}`);
      }
      for (const text of [`0${max}`, ` ${min}`, `${min}x`, '', '-1', '1.0']) assert.equal(pattern.test(text), false, JSON.stringify(text));
    });
  }

  it('refuses what is not a range', () => {
    assert.throws(() => integerRangePattern(5, 4), RangeError);
    assert.throws(() => integerRangePattern(-1, 4), RangeError);
  });
});
