/**
 * How deep a JSON request body may nest. The deepest body the API takes has three levels
 * (`{"sim": {"fail": {…}}}`, `{"displays": [{…}]}`); 32 leaves room for new fields while
 * staying far below the few thousand levels at which class-transformer and
 * class-validator, which recurse once per level, overflow the stack.
 */
export const JSON_DEPTH_LIMIT = 32;

function isContainer(value: unknown): value is object {
  return typeof value === 'object' && value !== null;
}

/**
 * Whether a parsed body has objects or arrays nested more than `limit` deep. It walks level
 * by level, without recursion, so a hostile depth cannot overflow the stack here either.
 */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  let level: object[] = isContainer(value) ? [value] : [];
  for (let depth = 1; level.length > 0; depth++) {
    if (depth > limit) return true;
    level = level.flatMap((container) => Object.values(container).filter(isContainer));
  }
  return false;
}
