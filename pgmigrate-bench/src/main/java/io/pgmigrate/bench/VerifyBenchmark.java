package io.pgmigrate.bench;

import io.pgmigrate.Migration;
import io.pgmigrate.TableVerification;
import io.pgmigrate.VerificationReport;
import io.pgmigrate.testkit.EmbeddedPostgresServer;
import io.pgmigrate.testkit.PostgresServer;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

import static io.pgmigrate.bench.InitialSyncBenchmark.intArg;
import static io.pgmigrate.bench.InitialSyncBenchmark.log;
import static io.pgmigrate.bench.InitialSyncBenchmark.seconds;
import static io.pgmigrate.bench.InitialSyncBenchmark.stringArg;

/**
 * Verification of a migrated table, side by side in one run on the same data (PostgreSQL 14 source, 18 target, the
 * table migrated by pgmigrate first, not timed):
 * <ul>
 *   <li><b>pgmigrate verify()</b>: ranges of the key, each hashed by both servers, several at a time;</li>
 *   <li><b>pgcopydb compare data</b>, when a pgcopydb that has it (0.13 and later) is on the PATH;</li>
 *   <li><b>one whole-table hash per side</b>, the way {@code pgcopydb compare data} hashes a table (one query per
 *       side: the row count and the sum of {@code hashtext} of each row's text), both sides at once: the reference
 *       when pgcopydb lacks the command (Debian bookworm packages 0.10);</li>
 *   <li><b>0.1's verify()</b>: md5 of the {@code string_agg} of every row's md5, which fails past 1 GB of text (about
 *       33 million rows).</li>
 * </ul>
 * Two tables: {@code big} (about 1.1 GB, 8,000,000 wide rows, as the initial-sync benchmark's) and {@code small}
 * (40,000,000 rows of a bigint and an integer). Prints seconds, MB/s of the table's size on the source, the ratio of
 * each reference's time to pgmigrate's, and the JVM heap pgmigrate used at most while verifying (sampled).
 *
 * <p>Arguments: {@code --tables big,small}, {@code --big-rows N} (default 8,000,000), {@code --small-rows N} (default
 * 40,000,000), {@code --workers N} (pgmigrate's workers, default its own sizing).
 */
public final class VerifyBenchmark {

    private VerifyBenchmark() {
    }

    private record Result(String path, double seconds, String note) {
    }

    public static void main(String[] args) throws Exception {
        List<String> tables = List.of(stringArg(args, "--tables", "big,small").split(","));
        int bigRows = intArg(args, "--big-rows", 8_000_000);
        int smallRows = intArg(args, "--small-rows", 40_000_000);
        int workers = intArg(args, "--workers", 0);
        Optional<Path> pgcopydb = InitialSyncBenchmark.findTool("pgcopydb", 0).filter(VerifyBenchmark::hasCompare);
        Path work = Files.createTempDirectory("pgmigrate-verify-bench");
        StringBuilder summary = new StringBuilder();
        long began = System.nanoTime();
        try (PostgresServer source = EmbeddedPostgresServer.start(14);
             PostgresServer target = EmbeddedPostgresServer.start(18)) {
            for (String table : tables) {
                long t = System.nanoTime();
                String db = table;
                if (table.equals("big")) {
                    InitialSyncBenchmark.generateBig(source, bigRows);
                } else if (table.equals("small")) {
                    generateSmall(source, smallRows);
                } else {
                    throw new IllegalArgumentException("unknown table " + table + "; use big or small");
                }
                long bytes = tableSize(source, db);
                log("%s: generated %.0f MB in %.1f s; migrating ...", table, bytes / 1e6, seconds(t));
                t = System.nanoTime();
                var builder = Migration.builder().name("verify_bench").source(source.endpoint(db))
                        .target(target.endpoint()).stateDirectory(Files.createTempDirectory(work, "state"));
                if (workers > 0) {
                    builder.copyWorkers(workers);
                }
                List<Result> results = new ArrayList<>();
                try (Migration m = builder.build()) {
                    m.start();
                    m.awaitInSync(Duration.ofHours(2));
                    log("%s: migrated in %.1f s; pgmigrate verify() ...", table, seconds(t));
                    results.add(pgmigrate(m));
                    log("%s: %s", table, results.get(0));
                    m.complete();
                }
                if (pgcopydb.isPresent()) {
                    results.add(pgcopydbCompare(pgcopydb.get(), source, target, db, work));
                } else {
                    results.add(new Result("pgcopydb compare data", -2, "no pgcopydb with compare on the PATH"
                            + " (Debian bookworm's is 0.10; compare came in 0.13)"));
                }
                results.add(bothSides(source, target, db, "whole-table hashtext sum", """
                        SELECT count(1) || '-' || coalesce(sum(hashtext(t::text)::bigint), 0) FROM public.%s t
                        """.formatted(table.equals("big") ? "ledger" : "events")));
                log("%s: %s", table, results.get(results.size() - 1));
                results.add(bothSides(source, target, db, "0.1's verify (string_agg)", """
                        SELECT count(*) || ':' || coalesce(md5(string_agg(h, '' ORDER BY h)), md5(''))
                        FROM (SELECT md5(ROW(%s)::text) AS h FROM public.%s) AS rows
                        """.formatted(table.equals("big") ? "id, account, amount, booked, memo, filler" : "id, v",
                        table.equals("big") ? "ledger" : "events")));
                log("%s: %s", table, results.get(results.size() - 1));

                double ours = results.get(0).seconds();
                summary.append(String.format("%nverification, table %s: %.0f MB, %d rows, PostgreSQL 14 -> 18%n",
                        table, bytes / 1e6, table.equals("big") ? bigRows : smallRows));
                summary.append(String.format("%-28s %9s %9s %17s%n", "path", "seconds", "MB/s", "ratio (ref/ours)"));
                for (Result r : results) {
                    if (r.seconds() < 0) {
                        summary.append(String.format("%-28s %9s %9s %17s  %s%n", r.path(),
                                r.seconds() < -1 ? "skipped" : "failed", "", "", r.note()));
                        continue;
                    }
                    summary.append(String.format("%-28s %9.2f %9.1f %17.2f  %s%n", r.path(), r.seconds(),
                            bytes / 1e6 / r.seconds(), r.seconds() / ours, r.note()));
                }
            }
        } finally {
            try (var walk = Files.walk(work)) {
                walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
        System.out.print(summary);
        System.out.printf("%nratio = reference seconds / pgmigrate seconds (above 1: pgmigrate is faster);"
                + " total run %.0f s%n", seconds(began));
    }

    private static Result pgmigrate(Migration m) throws InterruptedException {
        MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
        System.gc();
        long base = memory.getHeapMemoryUsage().getUsed();
        AtomicLong peak = new AtomicLong(base);
        AtomicBoolean done = new AtomicBoolean();
        Thread sampler = new Thread(() -> {
            while (!done.get()) {
                peak.accumulateAndGet(memory.getHeapMemoryUsage().getUsed(), Math::max);
                try {
                    TimeUnit.MILLISECONDS.sleep(20);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        sampler.setDaemon(true);
        sampler.start();
        long t = System.nanoTime();
        VerificationReport v = m.verify();
        double elapsed = seconds(t);
        done.set(true);
        sampler.join();
        if (!v.matches()) {
            throw new IllegalStateException("the migrated table differs: " + v.toText());
        }
        TableVerification table = v.tables().get(0);
        return new Result("pgmigrate verify()", elapsed, String.format("%d ranges equal; heap at most %.0f MB above"
                + " the %.0f MB before", table.ranges(), (peak.get() - base) / 1e6, base / 1e6));
    }

    /** Runs {@code sql} on both servers at once; the time until both answered, or a failure. */
    private static Result bothSides(PostgresServer source, PostgresServer target, String db, String path, String sql) {
        long t = System.nanoTime();
        CompletableFuture<String> a = CompletableFuture.supplyAsync(() -> one(source, db, sql));
        CompletableFuture<String> b = CompletableFuture.supplyAsync(() -> one(target, db, sql));
        try {
            String x = a.join();
            String y = b.join();
            return new Result(path, seconds(t), (x.equals(y) ? "equal; " : "DIFFERENT; ") + sqlNote(path));
        } catch (RuntimeException e) {
            Throwable cause = e.getCause() == null ? e : e.getCause();
            return new Result(path, -1, "after " + String.format("%.1f s", seconds(t)) + ": "
                    + cause.getMessage().lines().findFirst().orElse(""));
        }
    }

    private static String sqlNote(String path) {
        return path.startsWith("whole") ? "one query per side, no ranges, no recheck" : "";
    }

    private static String one(PostgresServer server, String db, String sql) {
        try (Connection c = server.connect(db); Statement st = c.createStatement()) {
            st.execute("SET extra_float_digits = 3");
            try (ResultSet rs = st.executeQuery(sql)) {
                rs.next();
                return rs.getString(1);
            }
        } catch (SQLException e) {
            throw new IllegalStateException(e.getMessage(), e);
        }
    }

    private static Result pgcopydbCompare(Path pgcopydb, PostgresServer source, PostgresServer target, String db,
                                          Path work) throws Exception {
        Path dir = Files.createTempDirectory(work, "pgcopydb");
        long t = System.nanoTime();
        Process p = new ProcessBuilder(pgcopydb.toString(), "compare", "data", "--source",
                InitialSyncBenchmark.uri(source, db), "--target", InitialSyncBenchmark.uri(target, db), "--dir",
                dir.toString()).redirectErrorStream(true).redirectOutput(dir.resolve("log.txt").toFile()).start();
        if (!p.waitFor(2, TimeUnit.HOURS) || p.exitValue() != 0) {
            return new Result("pgcopydb compare data", -1, "exit code " + p.exitValue());
        }
        return new Result("pgcopydb compare data", seconds(t), "");
    }

    private static boolean hasCompare(Path pgcopydb) {
        try {
            Process p = new ProcessBuilder(pgcopydb.toString(), "compare", "data", "--help").redirectErrorStream(true)
                    .start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            p.waitFor(10, TimeUnit.SECONDS);
            return !out.contains("unknown command");
        } catch (Exception e) {
            return false;
        }
    }

    private static void generateSmall(PostgresServer source, int rows) throws SQLException {
        source.createDatabase("small");
        try (Connection c = source.connect("small"); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE events (id bigint PRIMARY KEY, v int NOT NULL)");
            for (long from = 1; from <= rows; from += 5_000_000) {
                long to = Math.min(rows, from + 4_999_999);
                st.execute("INSERT INTO events SELECT g, (g * 7919) % 1000003 FROM generate_series(" + from + "::bigint, "
                        + to + ") g");
            }
            st.execute("VACUUM ANALYZE events");
        }
    }

    private static long tableSize(PostgresServer server, String db) throws SQLException {
        try (Connection c = server.connect(db); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT sum(pg_table_size(oid)) FROM pg_class WHERE relkind = 'r'"
                     + " AND relnamespace = 'public'::regnamespace")) {
            rs.next();
            return rs.getLong(1);
        }
    }
}
