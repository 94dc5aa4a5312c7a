package io.pgmigrate.bench;

import io.pgmigrate.Migration;
import io.pgmigrate.VerificationReport;
import io.pgmigrate.testkit.EmbeddedPostgresServer;
import io.pgmigrate.testkit.PostgresServer;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Initial sync of a generated pgbench-like dataset from PostgreSQL 14 to 18: pgmigrate (NATIVE engine, start to
 * in-sync) against {@code pg_dump | psql}, side by side in one run on the same source, into two identical targets.
 * Prints seconds, throughput and the ratio. The reference row is skipped, with the reason, when no pg_dump at least
 * as new as the source is on the PATH.
 *
 * <p>Arguments: {@code --scale N} (pgbench scale; 100,000 accounts each; 50 gives about 0.7 GB), {@code --source M},
 * {@code --target M} (majors).
 */
public final class InitialSyncBenchmark {

    private InitialSyncBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        int scale = intArg(args, "--scale", 50);
        int sourceMajor = intArg(args, "--source", 14);
        int targetMajor = intArg(args, "--target", 18);
        log("initial sync benchmark: scale %d, PostgreSQL %d -> %d", scale, sourceMajor, targetMajor);

        var s = CompletableFuture.supplyAsync(() -> EmbeddedPostgresServer.start(sourceMajor));
        var a = CompletableFuture.supplyAsync(() -> EmbeddedPostgresServer.start(targetMajor));
        var b = CompletableFuture.supplyAsync(() -> EmbeddedPostgresServer.start(targetMajor));
        Path state = Files.createTempDirectory("pgmigrate-bench");
        try (PostgresServer source = s.join(); PostgresServer ours = a.join(); PostgresServer reference = b.join()) {
            long t = System.nanoTime();
            generate(source, scale);
            long bytes = databaseSize(source, "bench");
            log("generated %.0f MB in %.1f s", bytes / 1e6, seconds(t));

            List<String[]> rows = new ArrayList<>();
            double oursSeconds = runPgmigrate(source, ours, state);
            rows.add(new String[]{"pgmigrate (NATIVE)", fmt(oursSeconds), fmt(bytes / 1e6 / oursSeconds), "1.00"});

            Optional<Path> pgDump = findTool("pg_dump", sourceMajor);
            Optional<Path> psql = findTool("psql", 0);
            if (pgDump.isPresent() && psql.isPresent()) {
                double refSeconds = runDumpRestore(pgDump.get(), psql.get(), source, reference);
                rows.add(new String[]{"pg_dump | psql", fmt(refSeconds), fmt(bytes / 1e6 / refSeconds),
                        fmt(refSeconds / oursSeconds)});
            } else {
                rows.add(new String[]{"pg_dump | psql", "skipped", "", "no pg_dump >= " + sourceMajor + " on PATH"});
            }

            System.out.println();
            System.out.printf("initial sync, %.0f MB (scale %d), PostgreSQL %d -> %d%n", bytes / 1e6, scale,
                    sourceMajor, targetMajor);
            System.out.printf("%-22s %10s %10s %18s%n", "path", "seconds", "MB/s", "ratio (ref/ours)");
            for (String[] r : rows) {
                System.out.printf("%-22s %10s %10s %18s%n", (Object[]) r);
            }
            System.out.println("ratio > 1 means pgmigrate is faster than the reference");
        } finally {
            try (var walk = Files.walk(state)) {
                walk.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static void generate(PostgresServer source, int scale) throws Exception {
        source.createDatabase("bench");
        try (Connection c = source.connect("bench"); Statement st = c.createStatement()) {
            st.execute("""
                    CREATE TABLE pgbench_branches (bid int PRIMARY KEY, bbalance int, filler char(88));
                    CREATE TABLE pgbench_tellers (tid int PRIMARY KEY, bid int REFERENCES pgbench_branches,
                                                  tbalance int, filler char(84));
                    CREATE TABLE pgbench_accounts (aid int PRIMARY KEY, bid int REFERENCES pgbench_branches,
                                                   abalance int, filler char(84));
                    CREATE TABLE pgbench_history (id bigserial PRIMARY KEY, tid int, bid int, aid int, delta int,
                                                  mtime timestamp, filler char(22));
                    CREATE TABLE customer_events (id bigserial PRIMARY KEY, account int, kind text, payload jsonb,
                                                  at timestamptz);
                    CREATE INDEX customer_events_account_idx ON customer_events (account);
                    """);
            st.execute("INSERT INTO pgbench_branches SELECT g, 0, '' FROM generate_series(1, " + scale + ") g");
            st.execute("INSERT INTO pgbench_tellers SELECT g, 1 + (g - 1) / 10, 0, '' FROM generate_series(1, "
                    + scale * 10 + ") g");
            // Accounts in chunks so one statement never holds the whole set in memory.
            for (int chunk = 0; chunk < scale; chunk++) {
                st.execute("INSERT INTO pgbench_accounts SELECT g, 1 + (g - 1) / 100000, 0, ''"
                        + " FROM generate_series(" + (chunk * 100000 + 1) + ", " + (chunk + 1) * 100000 + ") g");
            }
            st.execute("INSERT INTO pgbench_history (tid, bid, aid, delta, mtime, filler) SELECT 1 + g % "
                    + (scale * 10) + ", 1 + g % " + scale + ", g, g % 1000, now(), 'h' FROM generate_series(1, "
                    + scale * 20000 + ") g");
            st.execute("INSERT INTO customer_events (account, kind, payload, at) SELECT g % 100000,"
                    + " (ARRAY['login','order','refund'])[1 + g % 3], jsonb_build_object('n', g, 'tag', md5(g::text)),"
                    + " now() - g * interval '1 second' FROM generate_series(1, " + scale * 10000 + ") g");
            st.execute("VACUUM ANALYZE");
        }
    }

    private static double runPgmigrate(PostgresServer source, PostgresServer target, Path state) {
        log("pgmigrate: start() to in sync ...");
        long t = System.nanoTime();
        try (Migration m = Migration.builder().name("bench").source(source.endpoint("bench"))
                .target(target.endpoint()).stateDirectory(state).build()) {
            m.start();
            m.awaitInSync(Duration.ofHours(2));
            double elapsed = seconds(t);
            log("pgmigrate: %.1f s; verifying ...", elapsed);
            VerificationReport v = m.verify();
            if (!v.matches()) {
                throw new IllegalStateException("pgmigrate copy differs from the source: " + v.mismatches());
            }
            m.complete();
            return elapsed;
        }
    }

    private static double runDumpRestore(Path pgDump, Path psql, PostgresServer source, PostgresServer target)
            throws IOException, InterruptedException {
        log("reference: %s | %s ...", pgDump, psql);
        target.createDatabase("bench");
        long t = System.nanoTime();
        ProcessBuilder dump = new ProcessBuilder(pgDump.toString(), "-h", source.host(), "-p",
                Integer.toString(source.port()), "-U", source.superuser(), "--no-owner", "bench")
                .redirectError(ProcessBuilder.Redirect.INHERIT);
        ProcessBuilder restore = new ProcessBuilder(psql.toString(), "-h", target.host(), "-p",
                Integer.toString(target.port()), "-U", target.superuser(), "-q", "-v", "ON_ERROR_STOP=1",
                "-o", "/dev/null", "bench")
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.INHERIT);
        List<Process> pipeline = ProcessBuilder.startPipeline(List.of(dump, restore));
        for (Process p : pipeline) {
            if (!p.waitFor(2, TimeUnit.HOURS) || p.exitValue() != 0) {
                throw new IllegalStateException(p.info().command().orElse("pipeline") + " failed with exit code "
                        + p.exitValue());
            }
        }
        double elapsed = seconds(t);
        log("reference: %.1f s", elapsed);
        return elapsed;
    }

    /** A tool on the PATH whose major version is at least {@code minMajor}. */
    static Optional<Path> findTool(String name, int minMajor) {
        String path = System.getenv().getOrDefault("PATH", "");
        for (String dir : path.split(java.io.File.pathSeparator)) {
            Path p = Path.of(dir, name);
            if (Files.isExecutable(p) && major(p) >= minMajor) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    private static int major(Path tool) {
        try {
            Process p = new ProcessBuilder(tool.toString(), "--version").redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            p.waitFor(10, TimeUnit.SECONDS);
            var m = java.util.regex.Pattern.compile("(\\d+)(\\.\\d+)?").matcher(out);
            return m.find() ? Integer.parseInt(m.group(1)) : -1;
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    private static long databaseSize(PostgresServer server, String db) throws Exception {
        try (Connection c = server.connect(db); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT pg_database_size(current_database())")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private static int intArg(String[] args, String name, int def) {
        for (int i = 0; i < args.length - 1; i++) {
            if (args[i].equals(name)) {
                return Integer.parseInt(args[i + 1]);
            }
        }
        return def;
    }

    private static double seconds(long startNanos) {
        return (System.nanoTime() - startNanos) / 1e9;
    }

    private static String fmt(double d) {
        return String.format("%.2f", d);
    }

    private static void log(String format, Object... args) {
        System.out.printf("%tT " + format + "%n", prepend(System.currentTimeMillis(), args));
    }

    private static Object[] prepend(Object first, Object[] rest) {
        Object[] out = new Object[rest.length + 1];
        out[0] = first;
        System.arraycopy(rest, 0, out, 1, rest.length);
        return out;
    }
}
