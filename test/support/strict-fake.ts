/**
 * A typed stand-in for a service's dependency, for service tests that run without an app:
 * only the members given exist, and using any other member fails the test at once, naming
 * it — so a test states everything the service under test may use (immich's strict mocks).
 */
export function strictFake<T extends object>(name: string, members: Partial<T>): T {
  return new Proxy(members as T, {
    get(target, property, receiver) {
      if (property in target) return Reflect.get(target, property, receiver);
      // Looked up by await and by Node's inspection; absent, as on a plain object.
      if (property === 'then' || typeof property === 'symbol') return undefined;
      throw new Error(`${name}.${String(property)} was used, but the test did not provide it`);
    },
  });
}

/** Records each call of a fake's methods, in order, as "method(arg, …)". */
export class CallLog {
  readonly calls: string[] = [];

  /** Wraps `fn` so that each call is recorded under `name` before it runs. */
  track<A extends unknown[], R>(name: string, fn: (...args: A) => R): (...args: A) => R {
    return (...args: A) => {
      this.calls.push(`${name}(${args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(', ')})`);
      return fn(...args);
    };
  }
}
