import { Global, Module } from '@nestjs/common';
import { Clock } from './clock';
import { LiveStreams } from './live-streams';

/** Small services every module may use (LiveStreams: every module that changes access reports it). */
@Global()
@Module({ providers: [Clock, LiveStreams], exports: [Clock, LiveStreams] })
export class CommonModule {}
