import assert from 'node:assert/strict';
import { ApiError } from '../../src/common/errors/api-error';

/** The ApiError a promise rejects with; fails the test if it resolves or rejects otherwise. */
export async function rejectionOf(promise: Promise<unknown>): Promise<ApiError> {
  const error = await promise.then(
    () => assert.fail('expected an ApiError, but the call succeeded'),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ApiError, `an ApiError, not ${String(error)}`);
  return error;
}
