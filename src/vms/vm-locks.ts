import { Injectable } from '@nestjs/common';
import { KeyedMutex } from '../common/keyed-mutex';

/** Serializes every request that changes one VM (state, definition, deletion), and the growth of an image a VM attaches. */
@Injectable()
export class VmLocks extends KeyedMutex {}
