package io.pgmigrate.core.internal.cutover;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.PgMigrateException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The cutover's per-database tasks (review F17): a caller interrupted while one database's task still runs (a slow
 * reconnect, a drain) must not move on to the undo while that task can still engage a fence.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ParallelTest {

    @Test
    void anInterruptedCallerReturnsOnlyAfterEveryDatabasesTaskEnded() throws Exception {
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        AtomicBoolean slowTaskEnded = new AtomicBoolean();
        AtomicBoolean endedWhenCallerReturned = new AtomicBoolean();
        AtomicReference<RuntimeException> returned = new AtomicReference<>();
        AtomicBoolean interruptKept = new AtomicBoolean();
        List<String> problems = new ArrayList<>();

        Thread caller = new Thread(() -> {
            try (Parallel parallel = new Parallel(2)) {
                returned.set(parallel.runAll(List.of("fast", "slow"), db -> {
                    if (db.equals("slow")) {
                        started.countDown();
                        awaitUninterruptibly(release); // as a JDBC call does: interrupts do not end it
                        slowTaskEnded.set(true);
                    }
                }, problems));
                endedWhenCallerReturned.set(slowTaskEnded.get());
                interruptKept.set(Thread.currentThread().isInterrupted());
            }
        }, "cutover-caller");
        caller.start();
        assertThat(started.await(30, TimeUnit.SECONDS)).isTrue();

        caller.interrupt();
        // Either the caller gave up (the defect), or it took the interrupt and waits again for the slow task.
        awaitCondition(() -> caller.getState() == Thread.State.TERMINATED
                || (caller.getState() == Thread.State.WAITING && !caller.isInterrupted()));
        release.countDown();
        caller.join(TimeUnit.SECONDS.toMillis(30));

        assertThat(endedWhenCallerReturned).as("the slow task had ended when the caller returned").isTrue();
        assertThat(returned.get()).isInstanceOfSatisfying(PgMigrateException.class,
                e -> assertThat(e.code()).isEqualTo(CoreErrorCode.INTERRUPTED));
        assertThat(problems).singleElement().asString().contains("interrupted during the cutover");
        assertThat(interruptKept).as("the interrupt is set again for the caller's caller").isTrue();
    }

    @Test
    void everyDatabasesFailureIsCollectedAndTheFirstReturned() {
        List<String> problems = new ArrayList<>();
        try (Parallel parallel = new Parallel(3)) {
            RuntimeException first = parallel.runAll(List.of("a", "b", "c"), db -> {
                if (!db.equals("b")) {
                    throw new IllegalStateException(db + " failed");
                }
            }, problems);
            assertThat(first).hasMessage("a failed");
        }
        assertThat(problems).containsExactly("a failed", "c failed");
    }

    /** Issue 13: log lines of the workers carry the migration (from the caller) and their own database. */
    @Test
    void eachDatabasesTaskRunsWithTheCallersMdcAndItsOwnDatabase() {
        java.util.Map<String, String> seen = new java.util.concurrent.ConcurrentHashMap<>();
        try (Parallel parallel = new Parallel(2);
             io.pgmigrate.core.internal.Mdc.Scope m = io.pgmigrate.core.internal.Mdc.put(io.pgmigrate.core.internal.Mdc.MIGRATION, "shop")) {
            parallel.run(List.of("orders", "billing"), db -> seen.put(db, org.slf4j.MDC.get("pgmigrate.migration")
                    + "/" + org.slf4j.MDC.get("pgmigrate.database") + "/" + Thread.currentThread().getName()));
            assertThat(org.slf4j.MDC.get("pgmigrate.database")).as("the caller's MDC is left as it was").isNull();
        }
        assertThat(seen).hasSize(2);
        assertThat(seen.get("orders")).startsWith("shop/orders/pgmigrate-cutover-");
        assertThat(seen.get("billing")).startsWith("shop/billing/pgmigrate-cutover-");
        assertThat(org.slf4j.MDC.get("pgmigrate.migration")).isNull();
    }

    private static void awaitUninterruptibly(CountDownLatch latch) {
        while (true) {
            try {
                latch.await();
                return;
            } catch (InterruptedException e) {
                // ignored, like a socket read
            }
        }
    }

    private static void awaitCondition(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as("condition within 30 s").isLessThan(deadline);
            Thread.sleep(10);
        }
    }
}
