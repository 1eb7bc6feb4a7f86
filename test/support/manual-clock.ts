import { Clock } from '../../src/common/clock';

/** A clock the test moves by hand, so expiry is tested without sleeping. */
export class ManualClock extends Clock {
  private offsetMillis = 0;

  override nowMillis(): number {
    return super.nowMillis() + this.offsetMillis;
  }

  advance(seconds: number): void {
    this.offsetMillis += seconds * 1000;
  }
}
