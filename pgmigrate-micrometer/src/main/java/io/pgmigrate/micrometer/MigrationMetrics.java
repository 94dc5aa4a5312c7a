package io.pgmigrate.micrometer;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.TimeGauge;
import io.micrometer.core.instrument.Timer;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.pgmigrate.CopyState;
import io.pgmigrate.CutoverReport;
import io.pgmigrate.DatabaseStatus;
import io.pgmigrate.Migration;
import io.pgmigrate.MigrationListener;
import io.pgmigrate.MigrationStatus;
import io.pgmigrate.Phase;
import io.pgmigrate.Side;
import io.pgmigrate.TableStatus;

import java.time.Duration;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.ToDoubleFunction;

/**
 * Binds a migration to Micrometer: a {@link MigrationListener} that keeps the latest {@link MigrationStatus} it hears,
 * and meters that read it, tagged {@code migration} and {@code database}:
 *
 * <table>
 *   <caption>meters</caption>
 *   <tr><th>name</th><th>type</th><th>what</th></tr>
 *   <tr><td>{@code pgmigrate.lag.bytes}</td><td>gauge</td><td>WAL bytes the stream's subscriber has yet to apply</td></tr>
 *   <tr><td>{@code pgmigrate.lag}</td><td>time gauge</td><td>the replay lag in time</td></tr>
 *   <tr><td>{@code pgmigrate.wal.retained.bytes}</td><td>gauge</td><td>WAL the slot keeps on the side with traffic</td></tr>
 *   <tr><td>{@code pgmigrate.phase}</td><td>gauge, tag {@code phase}</td><td>1 for the database's phase, 0 for the
 *       others</td></tr>
 *   <tr><td>{@code pgmigrate.copy.bytes}, {@code pgmigrate.copy.bytes.estimated}, {@code pgmigrate.copy.rows}</td>
 *       <td>gauges</td><td>the initial copy: bytes and rows copied of the tables copying, and the tables'
 *       estimated size</td></tr>
 *   <tr><td>{@code pgmigrate.copy.rate}</td><td>gauge</td><td>bytes per second the copy reads now</td></tr>
 *   <tr><td>{@code pgmigrate.copy.tables}</td><td>gauge, tag {@code state}</td><td>tables per copy state</td></tr>
 *   <tr><td>{@code pgmigrate.apply.transactions.rate}, {@code pgmigrate.apply.bytes.rate}</td><td>gauges</td>
 *       <td>the stream's apply rate</td></tr>
 *   <tr><td>{@code pgmigrate.apply.queue}, {@code pgmigrate.apply.connections}</td><td>gauges</td><td>changes read
 *       and not yet applied (STREAM), sessions applying</td></tr>
 *   <tr><td>{@code pgmigrate.apply.errors}, {@code pgmigrate.apply.conflicts}</td><td>function counters</td>
 *       <td>apply failures; conflicts (PostgreSQL 18+ subscribers)</td></tr>
 *   <tr><td>{@code pgmigrate.cutover.window}</td><td>timer, tags {@code direction}, {@code outcome}</td><td>the
 *       write-unavailable window of each cutover and rollback</td></tr>
 *   <tr><td>{@code pgmigrate.cutover.step}</td><td>timer, tags {@code direction}, {@code step}</td><td>each
 *       step's duration</td></tr>
 * </table>
 *
 * <p>A value the migration does not know (a rate before the second status, errors on a server that does not count
 * them) reads as NaN, which registries skip. The listener hears a status at every {@code progressInterval} while
 * {@code start()}, {@code awaitInSync()} or a cutover waits; between those calls, {@link #poll(Migration, Duration)}
 * reads {@code status()} on a timer of its own.
 *
 * <pre>{@code
 * MigrationMetrics metrics = new MigrationMetrics("shop_to_pg18");
 * Migration m = Migration.builder().name("shop_to_pg18")...listener(metrics).build();
 * metrics.bindTo(registry);                          // any MeterRegistry: Prometheus, OTLP, ...
 * metrics.poll(m, Duration.ofSeconds(15));           // optional: status() every 15 s between calls
 * }</pre>
 *
 * @since 0.2.0
 */
public final class MigrationMetrics implements MeterBinder, MigrationListener, AutoCloseable {

    private final AtomicReference<MigrationStatus> latest = new AtomicReference<>();
    /** The databases whose meters are registered. */
    private final Set<String> bound = ConcurrentHashMap.newKeySet();
    private final java.util.concurrent.atomic.AtomicBoolean ageBound = new java.util.concurrent.atomic.AtomicBoolean();
    private final java.util.Map<String, Monotonic> errors = new ConcurrentHashMap<>();
    private final java.util.Map<String, Monotonic> conflicts = new ConcurrentHashMap<>();
    private volatile long heardAt;
    private volatile MeterRegistry registry;
    private volatile ScheduledExecutorService poller;

    private final String migration;

    /**
     * Creates the binder for the migration named {@code migration}; register it as that migration's listener and bind
     * it to a registry.
     *
     * @param migration the migration's name, the value of every meter's {@code migration} tag
     */
    public MigrationMetrics(String migration) {
        this.migration = Objects.requireNonNull(migration, "migration");
    }

    /**
     * Registers the meters of the databases known so far with {@code registry}, and those of databases heard of
     * later when they first appear.
     *
     * @param registry the registry
     */
    @Override
    public synchronized void bindTo(MeterRegistry registry) {
        Objects.requireNonNull(registry, "registry");
        if (this.registry != null && this.registry != registry) {
            throw new IllegalStateException("already bound to a registry; bind one CompositeMeterRegistry to report to"
                    + " several");
        }
        this.registry = registry;
        MigrationStatus st = latest.get();
        if (st != null) {
            register(st);
        }
    }

    /**
     * Also reads {@code migration.status()} every {@code interval}, on a daemon thread, so the meters move between
     * calls that report progress. A status that fails (a server unreachable) leaves the last values. Stopped by
     * {@link #close()}.
     *
     * @param migration the migration this binder listens to
     * @param interval  how often, positive
     */
    public synchronized void poll(Migration migration, Duration interval) {
        Objects.requireNonNull(migration, "migration");
        if (interval == null || interval.isZero() || interval.isNegative()) {
            throw new IllegalArgumentException("interval must be positive: " + interval);
        }
        if (poller != null) {
            throw new IllegalStateException("already polling");
        }
        poller = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "pgmigrate-metrics");
            t.setDaemon(true);
            return t;
        });
        poller.scheduleWithFixedDelay(() -> {
            try {
                onProgress(migration.status());
            } catch (RuntimeException e) {
                // the last values stand; status() failing is what the migration's own calls report
            }
        }, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** The latest status heard, or null before the first. */
    MigrationStatus latest() {
        return latest.get();
    }

    @Override
    public void onProgress(MigrationStatus status) {
        latest.set(status);
        heardAt = System.nanoTime();
        for (DatabaseStatus d : status.databases()) {
            errors.computeIfAbsent(d.database(), x -> new Monotonic()).add(d.apply().errors());
            conflicts.computeIfAbsent(d.database(), x -> new Monotonic()).add(d.apply().conflicts());
        }
        if (registry != null) {
            register(status);
        }
    }

    /**
     * A count that only grows, from readings that may start again from zero (a stream restarted, the reverse stream
     * after a cutover, statistics reset) or be unknown (-1): each rise is added, a drop counts as a restart.
     */
    static final class Monotonic {
        private double total;
        private long last = -1;

        synchronized void add(long reading) {
            if (reading < 0) {
                return; // unknown now: the next known reading goes on from the last one
            }
            total += last < 0 || reading < last ? (last < 0 ? 0 : reading) : reading - last;
            last = reading;
        }

        synchronized double total() {
            return total;
        }
    }

    @Override
    public void onCutover(CutoverReport report) {
        MeterRegistry r = registry;
        if (r == null) {
            return;
        }
        String direction = report.to() == Side.TARGET ? "cutover" : "rollback";
        boolean fenced = report.steps().stream().anyMatch(s -> s.name().startsWith("fence"));
        if (!fenced) {
            // refused before the window (a pre-check, a backlog): no window to count, only the steps
            for (CutoverReport.Step s : report.steps()) {
                Timer.builder("pgmigrate.cutover.step").description("one step of a cutover or rollback")
                        .tags("migration", migration, "direction", direction, "step", stepName(s.name()))
                        .register(r).record(s.duration());
            }
            return;
        }
        Timer.builder("pgmigrate.cutover.window")
                .description("the write-unavailable window of a cutover or rollback")
                .tags("migration", migration, "direction", direction, "outcome",
                        report.succeeded() ? "succeeded" : "abandoned")
                .register(r).record(report.writeUnavailable());
        for (CutoverReport.Step s : report.steps()) {
            Timer.builder("pgmigrate.cutover.step").description("one step of a cutover or rollback")
                    .tags("migration", migration, "direction", direction, "step", stepName(s.name()))
                    .register(r).record(s.duration());
        }
    }

    /** A step's name without what it adds in brackets (counts, a switch's description), so tags stay few. */
    static String stepName(String name) {
        int bracket = name.indexOf(" (");
        return bracket < 0 ? name : name.substring(0, bracket);
    }

    private void register(MigrationStatus st) {
        MeterRegistry r = registry;
        if (ageBound.compareAndSet(false, true)) {
            // how old the values are: a status that cannot be read (a server away) leaves the last ones standing
            TimeGauge.builder("pgmigrate.status.age", this, TimeUnit.MILLISECONDS,
                            m -> TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - heardAt))
                    .description("time since the last status was heard").tags("migration", migration).register(r);
        }
        for (DatabaseStatus d : st.databases()) {
            if (!bound.add(d.database())) {
                continue;
            }
            String db = d.database();
            Tags tags = Tags.of("migration", migration, "database", db);
            gauge(r, "pgmigrate.lag.bytes", "WAL bytes the subscriber has yet to apply", tags, "bytes", db,
                    x -> x.lagBytes());
            TimeGauge.builder("pgmigrate.lag", this, TimeUnit.MILLISECONDS,
                    m -> value(db, x -> x.lagTime() == null ? Double.NaN : x.lagTime().toMillis()))
                    .description("the stream's replay lag").tags(tags).register(r);
            gauge(r, "pgmigrate.wal.retained.bytes", "WAL the stream's slot keeps on the side with traffic", tags,
                    "bytes", db, x -> known(x.retainedWalBytes()));
            for (Phase p : Phase.values()) {
                gauge(r, "pgmigrate.phase", "1 for the database's phase, 0 for the others",
                        tags.and("phase", p.name().toLowerCase(Locale.ROOT)), null, db, x -> x.phase() == p ? 1 : 0);
            }
            gauge(r, "pgmigrate.copy.bytes", "bytes copied of the tables being copied", tags, "bytes", db,
                    x -> sum(x, TableStatus::bytesCopied));
            gauge(r, "pgmigrate.copy.bytes.estimated", "estimated size of the tables being copied or waiting", tags,
                    "bytes", db, x -> sum(x, TableStatus::estimatedBytes));
            gauge(r, "pgmigrate.copy.rows", "rows copied of the tables being copied", tags, "rows", db,
                    x -> sum(x, TableStatus::rowsCopied));
            gauge(r, "pgmigrate.copy.rate", "bytes per second the initial copy reads", tags, "bytes", db,
                    x -> x.tables().stream().mapToDouble(t -> Math.max(0, t.bytesPerSecond())).sum());
            for (CopyState c : CopyState.values()) {
                gauge(r, "pgmigrate.copy.tables", "tables in each copy state",
                        tags.and("state", c.name().toLowerCase(Locale.ROOT)), "tables", db,
                        x -> x.tables().stream().filter(t -> t.state() == c).count());
            }
            gauge(r, "pgmigrate.apply.transactions.rate", "source transactions per second the stream applies", tags,
                    "transactions", db, x -> known(x.apply().transactionsPerSecond()));
            gauge(r, "pgmigrate.apply.bytes.rate", "WAL bytes per second the stream applies", tags, "bytes", db,
                    x -> known(x.apply().bytesPerSecond()));
            gauge(r, "pgmigrate.apply.queue", "changes read from the publisher, not yet applied (STREAM)", tags,
                    "changes", db, x -> known(x.apply().queuedChanges()));
            gauge(r, "pgmigrate.apply.connections", "sessions applying the stream", tags, "connections", db,
                    x -> x.apply().connections());
            FunctionCounter.builder("pgmigrate.apply.errors", this, m -> errors.get(db).total())
                    .description("how often applying the stream failed").tags(tags).register(r);
            FunctionCounter.builder("pgmigrate.apply.conflicts", this, m -> conflicts.get(db).total())
                    .description("conflicts the subscriber's apply met (PostgreSQL 18+)").tags(tags).register(r);
        }
    }

    private void gauge(MeterRegistry r, String name, String description, Tags tags, String unit, String db,
                       ToDoubleFunction<DatabaseStatus> f) {
        Gauge.Builder<MigrationMetrics> b = Gauge.builder(name, this, m -> value(db, f)).description(description)
                .tags(tags);
        if (unit != null) {
            b.baseUnit(unit);
        }
        b.register(r);
    }

    private double value(String db, ToDoubleFunction<DatabaseStatus> f) {
        MigrationStatus st = latest.get();
        if (st == null) {
            return Double.NaN;
        }
        for (DatabaseStatus d : st.databases()) {
            if (d.database().equals(db)) {
                return f.applyAsDouble(d);
            }
        }
        return Double.NaN;
    }

    private static double sum(DatabaseStatus d, java.util.function.ToLongFunction<TableStatus> f) {
        return d.tables().stream().filter(t -> t.state() == CopyState.COPYING || t.state() == CopyState.PENDING)
                .mapToLong(f).filter(v -> v > 0).sum();
    }

    private static double known(double v) {
        return v < 0 ? Double.NaN : v;
    }

    /** Stops {@link #poll(Migration, Duration)}; the meters stay registered with their last values. */
    @Override
    public synchronized void close() {
        if (poller != null) {
            poller.shutdownNow();
            poller = null;
        }
    }
}
