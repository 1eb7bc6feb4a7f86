/**
 * A regular expression source matching exactly the decimal integers from `min` to `max`
 * (non-negative, no leading zeros), so that the OpenAPI document can state for a numeric
 * string the same bounds `minimum`/`maximum` state for a number. The range is cut into
 * pieces whose digits vary only in a tail (e.g. 1–1024 → 1–9, 10–99, 100–999, 1000–1019,
 * 1020–1024), each a fixed prefix, one digit range and a run of any digits.
 */
export function integerRangePattern(min: number, max: number): string {
  if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || min < 0 || min > max) throw new RangeError(`no integer range ${min}..${max}`);
  return `^(?:${pieces(min, max).map(([from, to]) => pieceToPattern(from, to)).join('|')})$`;
}

/** Cuts min..max where a run of trailing nines ends or a run of trailing zeros begins. */
function pieces(min: number, max: number): Array<[number, number]> {
  const stops = new Set<number>([max]);
  for (let nines = 1; ; nines++) {
    const stop = Number(`${String(min).slice(0, -nines) || ''}${'9'.repeat(nines)}`);
    if (stop < min || stop >= max) break;
    stops.add(stop);
  }
  for (let zeros = 1; ; zeros++) {
    const stop = max + 1 - ((max + 1) % 10 ** zeros) - 1;
    if (stop < min || stop >= max || stop <= 0) break;
    stops.add(stop);
  }
  const sorted = [...stops].sort((a, b) => a - b);
  let from = min;
  return sorted.filter((stop) => stop >= min).map((stop) => {
    const piece: [number, number] = [from, stop];
    from = stop + 1;
    return piece;
  });
}

/** from..to have the same number of digits and differ only in a digit range followed by 0–9 runs. */
function pieceToPattern(from: number, to: number): string {
  const [a, b] = [String(from), String(to)];
  let pattern = '';
  let anyDigits = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) pattern += a[i];
    else if (a[i] === '0' && b[i] === '9') anyDigits++;
    else pattern += `[${a[i]}-${b[i]}]`;
  }
  return pattern + (anyDigits ? (anyDigits === 1 ? '[0-9]' : `[0-9]{${anyDigits}}`) : '');
}
