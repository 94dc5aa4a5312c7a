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
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Initial sync from PostgreSQL 14 to 18, side by side in one run on the same generated source: pgmigrate ({@code
 * start()} until {@code awaitInSync()} returns) against the references a team would otherwise use, each into a fresh,
 * identical target server:
 * <ul>
 *   <li>native logical replication: {@code pg_dump --schema-only | psql}, then a subscription that copies every
 *       table (PostgreSQL's table synchronisation), until every table is ready;</li>
 *   <li>{@code pg_dump | psql};</li>
 *   <li>{@code pgcopydb clone --table-jobs 2 --index-jobs 2 --split-tables-larger-than 128MB} (Debian package
 *       {@code pgcopydb}).</li>
 * </ul>
 * Two datasets: one table of more than 1 GB ({@code big}), and 120 tables of mixed sizes and types ({@code many}).
 * Prints seconds, MB/s and the ratio of each reference's time to pgmigrate's (above 1: pgmigrate is faster), and
 * whether the targets are met. A reference whose program is missing is reported as skipped, with the reason.
 *
 * <p>Arguments: {@code --datasets big,many}, {@code --big-rows N} (default 8,000,000, about 1.1 GB),
 * {@code --many-scale N} (default 1, about 0.5 GB), {@code --source M}, {@code --target M} (majors),
 * {@code --workers N} (pgmigrate's copy workers; default: its own sizing), {@code --paths pgmigrate,native,dump,pgcopydb}
 * (the references to run; pgmigrate always runs), {@code --verify false} (skip pgmigrate's digest check).
 */
public final class InitialSyncBenchmark {

    private InitialSyncBenchmark() {
    }

    /** The ratio each reference must reach (its seconds / pgmigrate's). */
    private static final Map<String, Double> TARGETS = Map.of("native subscription", 1.5, "pg_dump | psql", 1.2,
            "pgcopydb clone", 1.2);

    private record Result(String path, double seconds, String note) {
    }

    public static void main(String[] args) throws Exception {
        List<String> datasets = List.of(stringArg(args, "--datasets", "big,many").split(","));
        int bigRows = intArg(args, "--big-rows", 8_000_000);
        int manyScale = intArg(args, "--many-scale", 1);
        int sourceMajor = intArg(args, "--source", 14);
        int targetMajor = intArg(args, "--target", 18);
        int workers = intArg(args, "--workers", 0);
        boolean verify = !stringArg(args, "--verify", "true").equals("false");
        List<String> paths = List.of(stringArg(args, "--paths", "pgmigrate,native,dump,pgcopydb").split(","));
        log("initial sync benchmark: datasets %s, PostgreSQL %d -> %d", datasets, sourceMajor, targetMajor);

        Optional<Path> pgDump = findTool("pg_dump", sourceMajor);
        Optional<Path> psql = findTool("psql", 0);
        Optional<Path> pgcopydb = findTool("pgcopydb", 0);
        Path work = Files.createTempDirectory("pgmigrate-bench");
        boolean allMet = true;
        StringBuilder summary = new StringBuilder();
        long began = System.nanoTime();
        try (PostgresServer source = EmbeddedPostgresServer.start(sourceMajor)) {
            for (String dataset : datasets) {
                long t = System.nanoTime();
                if (dataset.equals("big")) {
                    generateBig(source, bigRows);
                } else if (dataset.equals("many")) {
                    generateMany(source, manyScale);
                } else {
                    throw new IllegalArgumentException("unknown dataset " + dataset + "; use big or many");
                }
                long bytes = databaseSize(source, dataset);
                Map<String, Long> rows = rowCounts(source, dataset);
                log("%s: generated %.0f MB, %d tables in %.1f s", dataset, bytes / 1e6, rows.size(), seconds(t));

                List<Result> results = new ArrayList<>();
                results.add(onFreshTarget(targetMajor, target -> runPgmigrate(source, target, dataset, workers,
                        verify, work)));
                if (pgDump.isPresent() && psql.isPresent()) {
                    if (paths.contains("native")) {
                        results.add(onFreshTarget(targetMajor, target -> checked(rows, target, dataset,
                                runNative(pgDump.get(), psql.get(), source, target, dataset))));
                    }
                    if (paths.contains("dump")) {
                        results.add(onFreshTarget(targetMajor, target -> checked(rows, target, dataset,
                                runDumpRestore(pgDump.get(), psql.get(), source, target, dataset))));
                    }
                } else {
                    results.add(new Result("native subscription", -1, "no pg_dump >= " + sourceMajor + " and psql"
                            + " on PATH"));
                    results.add(new Result("pg_dump | psql", -1, "no pg_dump >= " + sourceMajor + " and psql on"
                            + " PATH"));
                }
                if (!paths.contains("pgcopydb")) {
                    log("%s: pgcopydb left out (--paths)", dataset);
                } else if (pgcopydb.isPresent()) {
                    results.add(onFreshTarget(targetMajor, target -> checked(rows, target, dataset,
                            runPgcopydb(pgcopydb.get(), source, target, dataset, work))));
                } else {
                    results.add(new Result("pgcopydb clone", -1, "no pgcopydb on PATH (Debian: apt-get install"
                            + " pgcopydb)"));
                }

                double ours = results.get(0).seconds();
                summary.append(String.format("%ninitial sync, dataset %s: %.0f MB in %d tables, PostgreSQL %d -> %d%n",
                        dataset, bytes / 1e6, rows.size(), sourceMajor, targetMajor));
                summary.append(String.format("%-22s %9s %9s %17s %8s%n", "path", "seconds", "MB/s",
                        "ratio (ref/ours)", "target"));
                for (Result r : results) {
                    if (r.seconds() < 0) {
                        summary.append(String.format("%-22s %9s %9s %17s %8s  %s%n", r.path(), "skipped", "", "",
                                "", r.note()));
                        continue;
                    }
                    double ratio = r.seconds() / ours;
                    Double goal = TARGETS.get(r.path());
                    boolean met = goal == null || ratio >= goal;
                    allMet &= met;
                    summary.append(String.format("%-22s %9.2f %9.1f %17.2f %8s  %s%n", r.path(), r.seconds(),
                            bytes / 1e6 / r.seconds(), ratio, goal == null ? "" : String.format(">= %.1f", goal)
                                    + (met ? " met" : " MISSED"), r.note()));
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
        System.out.println(allMet ? "every target met" : "SOME TARGETS MISSED");
    }

    private interface Run {
        Result on(PostgresServer target) throws Exception;
    }

    /** Runs {@code run} against a new target server, stopped afterwards: every path gets an identical one. */
    private static Result onFreshTarget(int major, Run run) throws Exception {
        try (PostgresServer target = EmbeddedPostgresServer.start(major)) {
            return run.on(target);
        }
    }

    static void generateBig(PostgresServer source, int rows) throws SQLException {
        source.createDatabase("big");
        try (Connection c = source.connect("big"); Statement st = c.createStatement()) {
            st.execute("""
                    CREATE TABLE ledger (id bigint PRIMARY KEY, account int NOT NULL, amount numeric(12,2) NOT NULL,
                                         booked timestamptz NOT NULL, memo text, filler char(60));
                    """);
            for (int from = 1; from <= rows; from += 1_000_000) {
                int to = Math.min(rows, from + 999_999);
                st.execute("INSERT INTO ledger SELECT g, g % 50000, (g % 100000) / 100.0,"
                        + " timestamptz '2026-01-01' + g * interval '1 second', 'payment ' || g, ''"
                        + " FROM generate_series(" + from + ", " + to + ") g");
            }
            st.execute("CREATE INDEX ledger_account_idx ON ledger (account)");
            st.execute("VACUUM ANALYZE");
        }
    }

    /**
     * 120 tables of mixed shapes: small lookup tables, mid-sized ones with text, jsonb, numeric and timestamps, a few
     * larger ones; each with a primary key and a secondary index, and some with foreign keys.
     */
    private static void generateMany(PostgresServer source, int scale) throws SQLException {
        source.createDatabase("many");
        try (Connection c = source.connect("many"); Statement st = c.createStatement()) {
            st.execute("CREATE TABLE region (id int PRIMARY KEY, name text NOT NULL)");
            st.execute("INSERT INTO region SELECT g, 'region ' || g FROM generate_series(1, 100) g");
            for (int i = 1; i <= 120; i++) {
                int rowsIn = scale * (i % 10 == 0 ? 200_000 : i % 3 == 0 ? 40_000 : 8_000);
                String t = "t" + String.format("%03d", i);
                st.execute("CREATE TABLE " + t + " (id bigint PRIMARY KEY, region int NOT NULL REFERENCES region,"
                        + " label text, amount numeric(14,2), at timestamptz, attrs jsonb, flag boolean)");
                st.execute("INSERT INTO " + t + " SELECT g, 1 + g % 100, md5(g::text), g * 1.25,"
                        + " timestamptz '2026-01-01' + g * interval '1 minute',"
                        + " jsonb_build_object('n', g, 'tag', 't" + i + "'), g % 2 = 0"
                        + " FROM generate_series(1, " + rowsIn + ") g");
                st.execute("CREATE INDEX " + t + "_at_idx ON " + t + " (at)");
            }
            st.execute("VACUUM ANALYZE");
        }
    }

    private static Result runPgmigrate(PostgresServer source, PostgresServer target, String db, int workers,
                                       boolean verify, Path work) throws IOException {
        log("%s: pgmigrate start() to in sync ...", db);
        Path state = Files.createTempDirectory(work, "state");
        long t = System.nanoTime();
        var builder = Migration.builder().name("bench").source(source.endpoint(db)).target(target.endpoint())
                .stateDirectory(state);
        if (workers > 0) {
            builder.copyWorkers(workers);
        }
        try (Migration m = builder.build()) {
            m.start();
            m.awaitInSync(Duration.ofHours(2));
            double elapsed = seconds(t);
            log("%s: pgmigrate %.1f s%s", db, elapsed, verify ? "; verifying ..." : "");
            if (verify) {
                VerificationReport v = m.verify();
                if (!v.matches()) {
                    throw new IllegalStateException("pgmigrate's copy differs from the source: " + v.mismatches());
                }
            }
            m.complete();
            return new Result("pgmigrate", elapsed, verify ? "verified: every table's digest matches"
                    : "not verified (--verify false)");
        }
    }

    private static Result runNative(Path pgDump, Path psql, PostgresServer source, PostgresServer target, String db)
            throws Exception {
        log("%s: native subscription ...", db);
        long t = System.nanoTime();
        target.createDatabase(db); // timed, as pgmigrate's own creation of the database is
        pipe(List.of(dump(pgDump, source, db, "--schema-only"), restore(psql, target, db)));
        try (Connection s = source.connect(db); Connection c = target.connect(db);
             Statement ss = s.createStatement(); Statement ts = c.createStatement()) {
            ss.execute("CREATE PUBLICATION bench_pub FOR ALL TABLES");
            ts.execute("CREATE SUBSCRIPTION bench_sub CONNECTION 'host=" + source.host() + " port=" + source.port()
                    + " user=" + source.superuser() + " dbname=" + db + "' PUBLICATION bench_pub");
            long pause = 10;
            while (true) {
                try (ResultSet rs = ts.executeQuery("SELECT count(*) FILTER (WHERE srsubstate <> 'r'), count(*)"
                        + " FROM pg_subscription_rel")) {
                    rs.next();
                    if (rs.getLong(1) == 0 && rs.getLong(2) > 0) {
                        break;
                    }
                }
                Thread.sleep(pause);
                pause = Math.min(100, pause * 2);
            }
            double elapsed = seconds(t);
            ts.execute("DROP SUBSCRIPTION bench_sub");
            ss.execute("DROP PUBLICATION bench_pub");
            log("%s: native subscription %.1f s", db, elapsed);
            return new Result("native subscription", elapsed, "schema by pg_dump | psql, rows by table sync");
        }
    }

    private static Result runDumpRestore(Path pgDump, Path psql, PostgresServer source, PostgresServer target,
                                         String db) throws Exception {
        log("%s: pg_dump | psql ...", db);
        long t = System.nanoTime();
        target.createDatabase(db);
        pipe(List.of(dump(pgDump, source, db), restore(psql, target, db)));
        double elapsed = seconds(t);
        log("%s: pg_dump | psql %.1f s", db, elapsed);
        return new Result("pg_dump | psql", elapsed, "");
    }

    private static Result runPgcopydb(Path pgcopydb, PostgresServer source, PostgresServer target, String db,
                                      Path work) throws Exception {
        log("%s: pgcopydb clone ...", db);
        Path dir = Files.createTempDirectory(work, "pgcopydb");
        long t = System.nanoTime();
        target.createDatabase(db);
        ProcessBuilder pb = new ProcessBuilder(pgcopydb.toString(), "clone", "--source", uri(source, db),
                "--target", uri(target, db), "--table-jobs", "2", "--index-jobs", "2",
                "--split-tables-larger-than", "128MB", "--no-owner", "--dir", dir.toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("log.txt").toFile());
        Process p = pb.start();
        if (!p.waitFor(2, TimeUnit.HOURS) || p.exitValue() != 0) {
            throw new IllegalStateException("pgcopydb failed with exit code " + p.exitValue() + ":\n"
                    + Files.readString(dir.resolve("log.txt")));
        }
        double elapsed = seconds(t);
        log("%s: pgcopydb %.1f s", db, elapsed);
        return new Result("pgcopydb clone", elapsed, "--table-jobs 2 --index-jobs 2");
    }

    /** The reference's result, after checking that every table arrived with every row. */
    private static Result checked(Map<String, Long> expected, PostgresServer target, String db, Result r)
            throws SQLException {
        Map<String, Long> actual = rowCounts(target, db);
        if (!actual.equals(expected)) {
            throw new IllegalStateException(r.path() + " left the target with other row counts than the source");
        }
        return new Result(r.path(), r.seconds(), (r.note().isEmpty() ? "" : r.note() + "; ") + "row counts checked");
    }

    static ProcessBuilder dump(Path pgDump, PostgresServer source, String db, String... extra) {
        List<String> cmd = new ArrayList<>(List.of(pgDump.toString(), "-h", source.host(), "-p",
                Integer.toString(source.port()), "-U", source.superuser(), "--no-owner"));
        cmd.addAll(List.of(extra));
        cmd.add(db);
        return new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT);
    }

    static ProcessBuilder restore(Path psql, PostgresServer target, String db) {
        return new ProcessBuilder(psql.toString(), "-h", target.host(), "-p", Integer.toString(target.port()), "-U",
                target.superuser(), "-q", "-v", "ON_ERROR_STOP=1", "-o", "/dev/null", db)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.INHERIT);
    }

    static void pipe(List<ProcessBuilder> stages) throws IOException, InterruptedException {
        List<Process> pipeline = ProcessBuilder.startPipeline(stages);
        for (Process p : pipeline) {
            if (!p.waitFor(2, TimeUnit.HOURS) || p.exitValue() != 0) {
                throw new IllegalStateException(p.info().command().orElse("pipeline") + " failed with exit code "
                        + p.exitValue());
            }
        }
    }

    static String uri(PostgresServer server, String db) {
        return "postgres://" + server.superuser() + "@" + server.host() + ":" + server.port() + "/" + db;
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
            var m = java.util.regex.Pattern.compile("version (\\d+)|\\) (\\d+)").matcher(out);
            if (!m.find()) {
                return -1;
            }
            return Integer.parseInt(m.group(1) != null ? m.group(1) : m.group(2));
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    static long databaseSize(PostgresServer server, String db) throws SQLException {
        try (Connection c = server.connect(db); Statement st = c.createStatement();
             ResultSet rs = st.executeQuery("SELECT pg_database_size(current_database())")) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private static Map<String, Long> rowCounts(PostgresServer server, String db) throws SQLException {
        Map<String, Long> out = new LinkedHashMap<>();
        try (Connection c = server.connect(db); Statement st = c.createStatement()) {
            List<String> tables = new ArrayList<>();
            try (ResultSet rs = st.executeQuery("SELECT format('%I.%I', schemaname, tablename) FROM pg_tables"
                    + " WHERE schemaname = 'public' ORDER BY 1")) {
                while (rs.next()) {
                    tables.add(rs.getString(1));
                }
            }
            for (String t : tables) {
                try (ResultSet rs = st.executeQuery("SELECT count(*) FROM " + t)) {
                    rs.next();
                    out.put(t, rs.getLong(1));
                }
            }
        }
        return out;
    }

    static int intArg(String[] args, String name, int def) {
        return Integer.parseInt(stringArg(args, name, Integer.toString(def)));
    }

    static String stringArg(String[] args, String name, String def) {
        for (int i = 0; i < args.length - 1; i++) {
            if (args[i].equals(name)) {
                return args[i + 1];
            }
        }
        return def;
    }

    static double seconds(long startNanos) {
        return (System.nanoTime() - startNanos) / 1e9;
    }

    static void log(String format, Object... args) {
        Object[] all = new Object[args.length + 1];
        all[0] = System.currentTimeMillis();
        System.arraycopy(args, 0, all, 1, args.length);
        System.out.printf("%tT " + format + "%n", all);
    }
}
