import { getMetadataStorage } from 'class-validator';

type Lookup = (target: Function, schema: string, always: boolean, strictGroups: boolean, groups?: string[]) => unknown[];

let installed = false;

/**
 * class-validator looks up a class's rules on every validation by walking every class that
 * has rules (an `instanceof` test each, for inherited rules), so each request paid for all
 * of Velocity's hundred-odd DTOs. Measured on GET /v/state alone (one VM, root, 50
 * connections): ~5.9k req/s before, ~6.2–6.5k after; ~8.4k with no validation at all. The
 * rules are fixed once the classes are defined (a class's decorators, and its ancestors',
 * run when it is), so each answer is kept, per class and options; the library's own lookup
 * still computes it.
 */
export function memoizeValidationMetadata(): void {
  if (installed) return;
  installed = true;
  const storage = getMetadataStorage() as unknown as { getTargetValidationMetadatas: Lookup };
  const lookup = storage.getTargetValidationMetadatas.bind(storage);
  const answers = new WeakMap<Function, Map<string, unknown[]>>();
  storage.getTargetValidationMetadatas = (target, schema, always, strictGroups, groups) => {
    const key = `${schema}|${always}|${strictGroups}|${groups?.join(',') ?? ''}`;
    let byOptions = answers.get(target);
    if (!byOptions) answers.set(target, (byOptions = new Map()));
    let answer = byOptions.get(key);
    if (!answer) byOptions.set(key, (answer = lookup(target, schema, always, strictGroups, groups)));
    return answer;
  };
}
