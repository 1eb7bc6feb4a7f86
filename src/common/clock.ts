import { Injectable } from '@nestjs/common';

/** Time as the server sees it; tests replace it to move time without sleeping. */
@Injectable()
export class Clock {
  nowMillis(): number {
    return Date.now();
  }

  nowSeconds(): number {
    return Math.floor(this.nowMillis() / 1000);
  }
}
