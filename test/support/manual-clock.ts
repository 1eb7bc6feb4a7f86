import { Clock } from '../../src/common/clock';

/** A clock the test moves by hand, so expiry is tested without sleeping. */
export class ManualClock extends Clock {
  private offset = 0;

  override nowSeconds(): number {
    return super.nowSeconds() + this.offset;
  }

  advance(seconds: number): void {
    this.offset += seconds;
  }
}
