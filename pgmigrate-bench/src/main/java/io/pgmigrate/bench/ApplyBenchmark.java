package io.pgmigrate.bench;

import io.pgmigrate.Lsn;
import io.pgmigrate.core.internal.replication.stream.LogicalStream;
import io.pgmigrate.core.internal.replication.stream.StreamWorker;
import io.pgmigrate.core.internal.sql.Connector;
import io.pgmigrate.testkit.EmbeddedPostgresServer;
import io.pgmigrate.testkit.PostgresServer;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.pgmigrate.bench.InitialSyncBenchmark.dump;
import static io.pgmigrate.bench.InitialSyncBenchmark.findTool;
import static io.pgmigrate.bench.InitialSyncBenchmark.intArg;
import static io.pgmigrate.bench.InitialSyncBenchmark.log;
import static io.pgmigrate.bench.InitialSyncBenchmark.pipe;
import static io.pgmigrate.bench.InitialSyncBenchmark.restore;
import static io.pgmigrate.bench.InitialSyncBenchmark.seconds;

/**
 * Draining a backlog: the STREAM engine's applier against a native subscription, in one run on the same changes.
 *
 * <p>A pgbench database (scale {@code --scale}, default 10) is copied to two identical target servers; two logical
 * slots are created on the source at the same point; pgbench runs {@code --clients} (default 8) clients for
 * {@code --seconds} (default 30) while neither slot is read: the backlog. Then each path drains its slot into its own
 * target, timed until the transaction holding an end marker (a logical decoding message written after the load) is
 * applied: NATIVE by a subscription on the slot ({@code copy_data = false}), until the slot's confirmed position passes
 * the marker; STREAM by {@code StreamWorker} with {@code --workers} (default 4) connections, until it committed the
 * marker's transaction. Both targets are then compared with the source. Prints seconds, MB of WAL per second, row
 * changes per second and the ratio NATIVE / STREAM (target: at least 1.5).
 *
 * <p>Then the live half: both paths run at once on their slots while pgbench runs {@code --clients} clients throttled to
 * {@code --live-rate} transactions per second (default 300) for {@code --live-seconds} (default 30); every second each
 * slot's lag is sampled (WAL bytes behind the source's position, and the walsender's {@code replay_lag}). Prints the
 * highest and the 95th percentile lag of each path (target: STREAM under 1 s at a load NATIVE holds).
 */
public final class ApplyBenchmark {

    private static final String DB = "bench";

    private ApplyBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        int scale = intArg(args, "--scale", 10);
        int clients = intArg(args, "--clients", 8);
        int loadSeconds = intArg(args, "--seconds", 30);
        int workers = intArg(args, "--workers", 4);
        int sourceMajor = intArg(args, "--source", 14);
        int targetMajor = intArg(args, "--target", 18);
        int liveRate = intArg(args, "--live-rate", 300);
        int liveSeconds = intArg(args, "--live-seconds", 30);
        Path pgbench = findTool("pgbench", 0).orElseThrow(() -> new IllegalStateException("pgbench is not on the"
                + " PATH: install the Debian package postgresql-client"));
        Path pgDump = findTool("pg_dump", sourceMajor).orElseThrow(() -> new IllegalStateException("no pg_dump of"
                + " major " + sourceMajor + " or later on the PATH"));
        Path psql = findTool("psql", 0).orElseThrow(() -> new IllegalStateException("psql is not on the PATH"));
        log("apply benchmark: pgbench scale %d, %d clients for %d s, PostgreSQL %d -> %d, STREAM on %d connections",
                scale, clients, loadSeconds, sourceMajor, targetMajor, workers);
        long began = System.nanoTime();
        try (PostgresServer source = EmbeddedPostgresServer.start(sourceMajor);
             PostgresServer nativeTarget = EmbeddedPostgresServer.start(targetMajor);
             PostgresServer streamTarget = EmbeddedPostgresServer.start(targetMajor)) {
            source.createDatabase(DB);
            run(pgbench, source, "-i", "-q", "-s", Integer.toString(scale));
            for (PostgresServer t : List.of(nativeTarget, streamTarget)) {
                t.createDatabase(DB);
                pipe(List.of(dump(pgDump, source, DB), restore(psql, t, DB)));
            }
            Lsn start;
            try (Connection s = source.connect(DB); Statement st = s.createStatement()) {
                st.execute("CREATE PUBLICATION bench_pub FOR ALL TABLES");
                st.execute("SELECT pg_create_logical_replication_slot('native_slot', 'pgoutput')");
                st.execute("SELECT pg_create_logical_replication_slot('stream_slot', 'pgoutput')");
                st.execute("SELECT pg_create_logical_replication_slot('decode_slot', 'pgoutput')");
                start = lsn(st, "SELECT pg_current_wal_lsn()::text");
            }
            log("backlog: pgbench for %d s, nothing reading the slots ...", loadSeconds);
            String out = run(pgbench, source, "-c", Integer.toString(clients), "-j", "2", "-T",
                    Integer.toString(loadSeconds), "-n");
            Matcher m = Pattern.compile("number of transactions actually processed: (\\d+)").matcher(out);
            long transactions = m.find() ? Long.parseLong(m.group(1)) : -1;
            Lsn marker;
            long walBytes;
            try (Connection s = source.connect(DB); Statement st = s.createStatement()) {
                marker = lsn(st, "SELECT pg_logical_emit_message(true, 'pgmigrate', 'end of load')::text");
                walBytes = marker.value() - start.value();
            }
            long changes = transactions * 4; // three updates and one insert per pgbench transaction
            log("backlog: %d transactions, %d row changes, %.0f MB of WAL", transactions, changes, walBytes / 1e6);

            double decodeSeconds = decodeOnly(source, sourceMajor);
            double nativeSeconds = drainNative(source, nativeTarget, marker);
            double streamSeconds = drainStream(source, streamTarget, marker, workers);
            for (PostgresServer t : List.of(nativeTarget, streamTarget)) {
                for (String table : List.of("pgbench_accounts", "pgbench_branches", "pgbench_tellers",
                        "pgbench_history")) {
                    if (!digest(source, table).equals(digest(t, table))) {
                        throw new IllegalStateException(table + " differs on " + t + " after the drain");
                    }
                }
            }
            double ratio = nativeSeconds / streamSeconds;
            System.out.printf("%nbacklog drain: %d pgbench transactions (%d row changes, %.0f MB of WAL),"
                    + " PostgreSQL %d -> %d%n", transactions, changes, walBytes / 1e6, sourceMajor, targetMajor);
            System.out.printf("%-34s %9s %9s %14s %18s%n", "path", "seconds", "MB/s", "changes/s", "ratio (native/x)");
            row("decoding alone (a floor for both)", decodeSeconds, walBytes, changes, nativeSeconds / decodeSeconds);
            row("native subscription", nativeSeconds, walBytes, changes, 1.0);
            row("STREAM, " + workers + " connection" + (workers == 1 ? "" : "s"), streamSeconds, walBytes, changes,
                    ratio);
            System.out.printf("%ntarget: STREAM at least 1.5x as fast as native: %s (%.2f); both targets equal to the"
                    + " source%n", ratio >= 1.5 ? "met" : "MISSED", ratio);

            live(pgbench, source, nativeTarget, streamTarget, clients, liveRate, liveSeconds, workers);
            System.out.printf("%ntotal run %.0f s%n", seconds(began));
        }
    }

    /** Lag samples of one path: WAL bytes and seconds behind, one of each per second. */
    private record Lags(List<Long> bytes, List<Double> seconds) {
        Lags() {
            this(new java.util.ArrayList<>(), new java.util.ArrayList<>());
        }

        <T extends Comparable<T>> T percentile(List<T> values, double p) {
            List<T> sorted = new java.util.ArrayList<>(values);
            sorted.sort(null);
            return sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(p * sorted.size()) - 1));
        }
    }

    /**
     * Both paths stream at once while pgbench runs at a fixed rate; each slot's lag is sampled every second. The
     * targets are compared with the source once both caught up.
     */
    private static void live(Path pgbench, PostgresServer source, PostgresServer nativeTarget,
                             PostgresServer streamTarget, int clients, int rate, int liveSeconds, int workers)
            throws Exception {
        log("live: pgbench %d clients at %d transactions/s for %d s, both paths streaming ...", clients, rate,
                liveSeconds);
        Connector s = new Connector(source.endpoint(), "source", Duration.ofSeconds(10), 3);
        Connector t = new Connector(streamTarget.endpoint(), "target", Duration.ofSeconds(10), 3);
        Lags nativeLags = new Lags();
        Lags streamLags = new Lags();
        try (Connection src = source.connect(DB); Connection nt = nativeTarget.connect(DB);
             Statement ss = src.createStatement(); Statement ns = nt.createStatement();
             StreamWorker w = StreamWorker.start(s, t, new StreamWorker.Settings(DB, "stream_slot", "bench_stream",
                     "public.pgmigrate_stream_progress", new LogicalStream.Options("bench_pub",
                     source.majorVersion(), false), Duration.ofSeconds(10), workers))) {
            ns.execute("CREATE SUBSCRIPTION bench_sub CONNECTION 'host=" + source.host() + " port=" + source.port()
                    + " user=" + source.superuser() + " dbname=" + DB + "' PUBLICATION bench_pub WITH (create_slot ="
                    + " false, slot_name = 'native_slot', copy_data = false)");
            Path output = Files.createTempFile("pgbench-live", ".log");
            Process load = start(pgbench, source, output, "-c", Integer.toString(clients), "-j", "2", "-R",
                    Integer.toString(rate), "-T", Integer.toString(liveSeconds), "-n");
            long next = System.nanoTime();
            while (load.isAlive()) {
                next += 1_000_000_000L;
                long wait = next - System.nanoTime();
                if (wait > 0) {
                    TimeUnit.NANOSECONDS.sleep(wait); // a sampling clock, not a wait for a condition
                }
                sample(ss, "native_slot", nativeLags);
                sample(ss, "stream_slot", streamLags);
            }
            String printed = Files.readString(output, StandardCharsets.UTF_8);
            Files.delete(output);
            if (load.exitValue() != 0) {
                throw new IllegalStateException("pgbench failed:\n" + printed);
            }
            Matcher done = Pattern.compile("number of transactions actually processed: (\\d+)").matcher(printed);
            log("live: pgbench committed %s transactions", done.find() ? done.group(1) : "?");
            Lsn end = lsn(ss, "SELECT pg_logical_emit_message(true, 'pgmigrate', 'end of live load')::text");
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(30);
            while (lsn(ss, "SELECT coalesce(confirmed_flush_lsn, '0/0')::text FROM pg_replication_slots"
                    + " WHERE slot_name = 'native_slot'").compareTo(end) < 0 || !w.awaitSentinel(end, Duration.ZERO)) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("the paths did not catch up within 30 minutes of the live load");
                }
                Thread.sleep(20);
            }
            ns.execute("ALTER SUBSCRIPTION bench_sub DISABLE");
            ns.execute("ALTER SUBSCRIPTION bench_sub SET (slot_name = NONE)");
            ns.execute("DROP SUBSCRIPTION bench_sub");
        }
        for (PostgresServer target : List.of(nativeTarget, streamTarget)) {
            for (String table : List.of("pgbench_accounts", "pgbench_branches", "pgbench_tellers", "pgbench_history")) {
                if (!digest(source, table).equals(digest(target, table))) {
                    throw new IllegalStateException(table + " differs on " + target + " after the live load");
                }
            }
        }
        System.out.printf("%nlive: pgbench %d clients at %d transactions/s for %d s, both paths at once, lag sampled"
                + " every second%n", clients, rate, liveSeconds);
        System.out.printf("%-34s %12s %12s %12s %12s%n", "path", "max lag MB", "p95 lag MB", "max lag s", "p95 lag s");
        liveRow("native subscription", nativeLags);
        liveRow("STREAM, " + workers + " connection" + (workers == 1 ? "" : "s"), streamLags);
        double nativeMax = java.util.Collections.max(nativeLags.seconds());
        double streamMax = java.util.Collections.max(streamLags.seconds());
        System.out.printf("%ntarget: STREAM's lag under 1 s at a load native holds: %s (STREAM max %.2f s, native max"
                + " %.2f s); both targets equal to the source%n", streamMax < 1 && nativeMax < 1 ? "met"
                : nativeMax >= 1 ? "not measured (native did not hold this load either; lower --live-rate)"
                : "MISSED", streamMax, nativeMax);
    }

    private static void sample(Statement st, String slot, Lags lags) throws SQLException {
        try (ResultSet rs = st.executeQuery("SELECT pg_current_wal_lsn() - s.confirmed_flush_lsn,"
                + " coalesce(extract(epoch FROM r.replay_lag), 0) FROM pg_replication_slots s"
                + " LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid WHERE s.slot_name = '" + slot + "'")) {
            rs.next();
            lags.bytes().add(Math.max(0, rs.getLong(1)));
            lags.seconds().add(rs.getDouble(2));
        }
    }

    private static void liveRow(String path, Lags lags) {
        System.out.printf("%-34s %12.2f %12.2f %12.2f %12.2f%n", path,
                java.util.Collections.max(lags.bytes()) / 1e6, lags.percentile(lags.bytes(), 0.95) / 1e6,
                java.util.Collections.max(lags.seconds()), lags.percentile(lags.seconds(), 0.95));
    }

    /**
     * The source's share alone: the backlog decoded by pgoutput in a backend, nothing sent or applied. Both paths pay
     * this (their walsenders do the same work), so neither can drain faster.
     */
    private static double decodeOnly(PostgresServer source, int major) throws SQLException {
        log("decoding alone ...");
        long t = System.nanoTime();
        try (Connection s = source.connect(DB); Statement st = s.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_logical_slot_get_binary_changes('decode_slot',"
                     + " NULL, NULL, 'proto_version', '" + (major >= 14 ? 2 : 1) + "', 'publication_names',"
                     + " 'bench_pub')")) {
            rs.next();
            double elapsed = seconds(t);
            log("decoding alone: %.1f s, %d messages", elapsed, rs.getLong(1));
            st.execute("SELECT pg_drop_replication_slot('decode_slot')");
            return elapsed;
        }
    }

    private static double drainNative(PostgresServer source, PostgresServer target, Lsn marker) throws Exception {
        log("native subscription draining ...");
        long t = System.nanoTime();
        try (Connection s = source.connect(DB); Connection c = target.connect(DB);
             Statement ss = s.createStatement(); Statement ts = c.createStatement()) {
            ts.execute("CREATE SUBSCRIPTION bench_sub CONNECTION 'host=" + source.host() + " port=" + source.port()
                    + " user=" + source.superuser() + " dbname=" + DB + "' PUBLICATION bench_pub WITH (create_slot ="
                    + " false, slot_name = 'native_slot', copy_data = false)");
            while (lsn(ss, "SELECT coalesce(confirmed_flush_lsn, '0/0')::text FROM pg_replication_slots"
                    + " WHERE slot_name = 'native_slot'").compareTo(marker) < 0) {
                Thread.sleep(20);
            }
            double elapsed = seconds(t);
            ts.execute("ALTER SUBSCRIPTION bench_sub DISABLE");
            ts.execute("ALTER SUBSCRIPTION bench_sub SET (slot_name = NONE)");
            ts.execute("DROP SUBSCRIPTION bench_sub");
            log("native subscription: %.1f s", elapsed);
            return elapsed;
        }
    }

    private static double drainStream(PostgresServer source, PostgresServer target, Lsn marker, int workers) {
        log("STREAM on %d connections draining ...", workers);
        Connector s = new Connector(source.endpoint(), "source", Duration.ofSeconds(10), 3);
        Connector t = new Connector(target.endpoint(), "target", Duration.ofSeconds(10), 3);
        long start = System.nanoTime();
        try (StreamWorker w = StreamWorker.start(s, t, new StreamWorker.Settings(DB, "stream_slot", "bench_stream", "public.pgmigrate_stream_progress",
                new LogicalStream.Options("bench_pub", source.majorVersion(), false), Duration.ofSeconds(10),
                workers))) {
            if (!w.awaitSentinel(marker, Duration.ofHours(1))) {
                throw new IllegalStateException("STREAM did not reach the end marker within an hour");
            }
            double elapsed = seconds(start);
            log("STREAM: %.1f s (%d stretches applied again in order)", elapsed, w.inOrderStretches());
            return elapsed;
        }
    }

    private static void row(String path, double seconds, long walBytes, long changes, double ratio) {
        System.out.printf("%-34s %9.2f %9.1f %14.0f %18.2f%n", path, seconds, walBytes / 1e6 / seconds,
                changes / seconds, ratio);
    }

    private static String digest(PostgresServer server, String table) throws SQLException {
        try (Connection c = server.connect(DB); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT count(*) || ':' || coalesce(md5(string_agg(digested_row::text, ','"
                     + " ORDER BY digested_row::text)), '') FROM " + table + " AS digested_row")) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static Lsn lsn(Statement st, String sql) throws SQLException {
        try (ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return Lsn.parse(rs.getString(1));
        }
    }

    /** Starts pgbench against the source's database, printing to {@code output}. */
    private static Process start(Path pgbench, PostgresServer source, Path output, String... args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of(pgbench.toString(), "-h", source.host(), "-p",
                Integer.toString(source.port()), "-U", source.superuser()));
        cmd.addAll(List.of(args));
        cmd.add(DB);
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(output.toFile()).start();
    }

    /** Runs pgbench against the source's database and returns what it printed. */
    private static String run(Path pgbench, PostgresServer source, String... args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of(pgbench.toString(), "-h", source.host(), "-p",
                Integer.toString(source.port()), "-U", source.superuser()));
        cmd.addAll(List.of(args));
        cmd.add(DB);
        Path log = Files.createTempFile("pgbench", ".log");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(1, TimeUnit.HOURS) || p.exitValue() != 0) {
            throw new IllegalStateException("pgbench failed:\n" + Files.readString(log, StandardCharsets.UTF_8));
        }
        String out = Files.readString(log, StandardCharsets.UTF_8);
        Files.delete(log);
        return out;
    }
}
