package io.pgmigrate.core.internal.cutover;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.core.internal.Mdc;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Runs one task per database at once; each database has its own connections, so they do not interfere. A call
 * returns only once every task it started has ended, also when the caller is interrupted: a task still running after
 * the caller moved on could engage a fence after the undo lifted it (review F17). Every task is bounded by its
 * sessions' network timeouts, so the wait ends.
 */
final class Parallel implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(Parallel.class);

    private final ExecutorService pool;

    Parallel(int databases) {
        AtomicInteger n = new AtomicInteger();
        this.pool = Executors.newFixedThreadPool(Math.max(1, Math.min(databases, 16)), r -> {
            Thread th = new Thread(r, "pgmigrate-cutover-" + n.incrementAndGet());
            th.setDaemon(true);
            return th;
        });
    }

    interface Task {
        void run(String database);
    }

    /** Runs {@code task} for every database; throws the first failure after all have ended. */
    void run(List<String> dbs, Task task) {
        List<String> problems = new ArrayList<>();
        RuntimeException first = runAll(dbs, task, problems);
        if (first != null) {
            throw first;
        }
    }

    /**
     * Runs {@code task} for every database, collecting failures in {@code problems}; returns the first. An interrupt
     * of the caller is kept for after every task ended, then reported as a failure (the interrupt flag set again).
     */
    RuntimeException runAll(List<String> dbs, Task task, List<String> problems) {
        if (dbs.size() == 1) {
            try (Mdc.Scope s = Mdc.put(Mdc.DATABASE, dbs.get(0))) {
                task.run(dbs.get(0));
                return null;
            } catch (RuntimeException e) {
                problems.add(e.getMessage());
                return e;
            }
        }
        List<Future<?>> futures = new ArrayList<>();
        for (String db : dbs) {
            // The worker logs with the caller's MDC (the migration) and its own database.
            futures.add(pool.submit(Mdc.carrying(() -> {
                try (Mdc.Scope s = Mdc.put(Mdc.DATABASE, db)) {
                    task.run(db);
                }
            })));
        }
        RuntimeException first = null;
        boolean interrupted = false;
        for (Future<?> f : futures) {
            while (true) {
                try {
                    f.get();
                    break;
                } catch (ExecutionException e) {
                    RuntimeException r = e.getCause() instanceof RuntimeException re ? re
                            : new PgMigrateException(CoreErrorCode.INTERNAL, null, String.valueOf(e.getCause()),
                            e.getCause());
                    problems.add(r.getMessage());
                    if (first == null) {
                        first = r;
                    }
                    break;
                } catch (InterruptedException e) {
                    interrupted = true; // wait on: the task may still flip a fence
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
            if (first == null) {
                first = new PgMigrateException(CoreErrorCode.INTERRUPTED, "interrupted during the cutover");
                problems.add(first.getMessage());
            }
        }
        return first;
    }

    /** Stops the idle threads; every task has ended already (see {@link #runAll}). */
    @Override
    public void close() {
        pool.shutdownNow();
        boolean interrupted = false;
        while (true) {
            try {
                if (pool.awaitTermination(60, TimeUnit.SECONDS)) {
                    break;
                }
                LOG.warn("cutover tasks still running after 60 s; waiting for them to end");
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
