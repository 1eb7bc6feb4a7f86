import { Global, Module } from '@nestjs/common';
import { AccessChanges } from './access-changes';
import { Clock } from './clock';
import { LiveStreams } from './live-streams';

/** Small services every module may use (AccessChanges: every module that changes access reports it). */
@Global()
@Module({ providers: [Clock, AccessChanges, LiveStreams], exports: [Clock, AccessChanges, LiveStreams] })
export class CommonModule {}
