import { Injectable } from '@nestjs/common';

/** Time as the server sees it; tests replace it to move time without sleeping. */
@Injectable()
export class Clock {
  nowSeconds(): number {
    return Math.floor(Date.now() / 1000);
  }
}
