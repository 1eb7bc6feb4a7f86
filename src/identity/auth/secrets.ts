import { createHash, randomBytes } from 'node:crypto';

/** A fresh credential secret: 256 random bits, base64url. */
export function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** What is stored of a secret: its hex SHA-256 (256 random bits need no slow hash). */
export function digest(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
