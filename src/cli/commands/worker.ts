/**
 * `moelab worker --queue URL [--concurrency N] [--plugin MODULE …]`: serve the study queue of a Redis
 * database (any number of workers on any number of machines; see README "Studies on many machines").
 */
import type { Command } from 'commander';
import { parseQueueUrl, PluginError, startQueueWorker } from '../../index.js';
import { parseNumberOption } from '../io.js';

interface WorkerCliOptions {
  queue: string;
  queueName?: string;
  concurrency?: string;
  plugin: string[];
  lockDuration: string;
  stalledInterval: string;
  maxStalled: string;
  verbose?: boolean;
}

export function register(program: Command): void {
  program
    .command('worker')
    .description('run study jobs from a Redis queue (started by `moelab study run --queue URL`) until stopped (SIGTERM: finish held jobs, then exit)')
    .requiredOption('--queue <url>', `Redis URL redis://[user:password@]HOST:PORT[/DB] (password also from MOELAB_REDIS_PASSWORD)`)
    .option('--queue-name <name>', 'BullMQ queue name (default moelab-study)')
    .option('--concurrency <n>', 'jobs at once, one worker thread each (default: all cores)')
    .option('--plugin <module...>', 'modules to load in every job thread (plugin families); a study\'s `plugins:` file of the same name is taken from here', [])
    .option('--lock-duration <ms>', 'job lock, renewed every half of it; a dead worker\'s jobs rerun after about this long', '30000')
    .option('--stalled-interval <ms>', 'period of the check for jobs of dead workers', '30000')
    .option('--max-stalled <n>', 'times a job may lose its worker before it is stored as failed', '3')
    .option('--verbose', 'one line per job event on stderr')
    .action(async (opts: WorkerCliOptions) => {
      const target = parseQueueUrl(opts.queue);
      const log = (line: string): void => { process.stderr.write(`${new Date().toISOString()} ${line}\n`); };
      const handle = await startQueueWorker({
        target,
        ...(opts.queueName !== undefined ? { queueName: opts.queueName } : {}),
        ...(opts.concurrency !== undefined ? { concurrency: parseNumberOption(opts.concurrency, '--concurrency', { integer: true, min: 1 }) } : {}),
        plugins: opts.plugin,
        lockDuration: parseNumberOption(opts.lockDuration, '--lock-duration', { integer: true, min: 100 }),
        stalledInterval: parseNumberOption(opts.stalledInterval, '--stalled-interval', { integer: true, min: 100 }),
        maxStalledCount: parseNumberOption(opts.maxStalled, '--max-stalled', { integer: true, min: 0 }),
        ...(opts.verbose ? { log } : { log: (l: string) => { if (l.startsWith('redis:')) log(l); } }),
      });
      log(`worker ${handle.name} serving ${target.display} (concurrency ${handle.worker.opts.concurrency ?? 1}); SIGTERM to stop`);
      let refusal: string | undefined;
      await new Promise<void>((resolveStop) => {
        let stopping = false;
        // a study this worker cannot run (its plugin is missing here or differs): stop, one line
        void handle.refused.then((message) => {
          if (stopping) return;
          stopping = true;
          refusal = message;
          void handle.close(false).then(resolveStop);
        });
        const stop = (signal: string): void => {
          if (stopping) {
            log(`${signal} again: handing held jobs back to the queue`);
            void handle.close(true).then(resolveStop);
            return;
          }
          stopping = true;
          log(`${signal}: finishing held jobs, then exiting (${signal} again to hand them back now)`);
          void handle.close(false).then(resolveStop);
        };
        process.on('SIGTERM', () => stop('SIGTERM'));
        process.on('SIGINT', () => stop('SIGINT'));
      });
      if (refusal !== undefined) throw new PluginError(`${refusal} (its jobs stay queued for other workers; this worker stopped)`);
      log(`worker ${handle.name} stopped`);
    });
}
