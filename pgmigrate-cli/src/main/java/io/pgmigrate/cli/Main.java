package io.pgmigrate.cli;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.CutoverException;
import io.pgmigrate.CutoverReport;
import io.pgmigrate.Engine;
import io.pgmigrate.Migration;
import io.pgmigrate.MigrationBuilder;
import io.pgmigrate.MigrationStatus;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.PreflightReport;
import io.pgmigrate.VerificationReport;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import tools.jackson.databind.SerializationFeature;
import tools.jackson.databind.json.JsonMapper;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.ServiceLoader;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

/**
 * The {@code pgmigrate} command line. Every command reads the migration from a properties file whose keys are
 * {@code MigrationBuilder}'s method names ({@code MigrationBuilder.configure}), so the file and the Java API say the
 * same things the same way.
 *
 * <pre>
 * pgmigrate preflight --config shop.properties
 * pgmigrate start     --config shop.properties            # until in sync; with engine=STREAM it keeps streaming
 * pgmigrate status    --config shop.properties [--json] [--offline]
 * pgmigrate cutover   --config shop.properties
 * </pre>
 */
@Command(name = "pgmigrate", mixinStandardHelpOptions = true, version = "pgmigrate 0.1.0",
        description = "Moves live PostgreSQL databases between servers with logical replication and a fenced cutover.",
        subcommands = {Main.Preflight.class, Main.Start.class, Main.Status.class, Main.Verify.class,
                Main.Cutover.class, Main.Rollback.class, Main.Recover.class, Main.Pause.class, Main.Complete.class},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {
                " 0:done; the cutover or rollback succeeded; the tables match",
                " 1:failed (the message says why)",
                " 2:wrong command line",
                " 3:preflight found a blocker",
                " 4:a server could not be reached or refused the login",
                " 5:the cutover or rollback was abandoned (traffic stays where it was), or verification found"
                        + " differences",
                " 6:the configuration file is wrong"})
public final class Main implements Runnable {

    static final int FAILED = 1;
    static final int BLOCKED = 3;
    static final int UNREACHABLE = 4;
    static final int ABANDONED = 5;
    static final int CONFIGURATION = 6;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    private Main() {
    }

    /**
     * Runs a command and exits with its code.
     *
     * @param args the command line
     */
    public static void main(String[] args) {
        System.exit(run(new PrintWriter(System.out, true, StandardCharsets.UTF_8),
                new PrintWriter(System.err, true, StandardCharsets.UTF_8), args));
    }

    /** Runs a command, printing to {@code out} and {@code err}; returns the exit code. */
    static int run(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cli = new CommandLine(new Main());
        for (CliExtension e : EXTENSIONS) {
            for (Object command : e.commands()) {
                cli.addSubcommand(command);
            }
        }
        cli.setOut(out);
        cli.setErr(err);
        cli.setExecutionExceptionHandler((e, commandLine, parsed) -> {
            PrintWriter w = commandLine.getErr();
            if (e instanceof CutoverException ce) {
                if (ce.report() != null) {
                    CommandLine.ParseResult sub = parsed.subcommand();
                    boolean json = sub != null && sub.hasMatchedOption("--json");
                    commandLine.getOut().println(json ? JSON.writeValueAsString(ce.report()) : ce.report().toText());
                }
                w.println("pgmigrate: " + ce.getMessage());
                return ABANDONED;
            }
            if (e instanceof PgMigrateException pe) {
                w.println("pgmigrate: " + pe.getMessage());
                return pe.code() == CoreErrorCode.CONNECTION_FAILED || pe.code() == CoreErrorCode.AUTHENTICATION_FAILED
                        ? UNREACHABLE : pe.code() == CoreErrorCode.INVALID_CONFIGURATION ? CONFIGURATION : FAILED;
            }
            if (e instanceof ConfigurationException) {
                w.println("pgmigrate: " + e.getMessage());
                return CONFIGURATION;
            }
            w.println("pgmigrate: " + e);
            return FAILED;
        });
        return cli.execute(args);
    }

    @Override
    public void run() {
        throw new CommandLine.ParameterException(spec.commandLine(), "name a command: preflight, start, status,"
                + " verify, cutover, rollback, recover, pause or complete");
    }

    /** A configuration file that cannot be read or does not describe a migration: exit code 6. */
    public static final class ConfigurationException extends RuntimeException {
        /**
         * A wrong file.
         *
         * @param message what is wrong, naming the file and the key
         * @param cause   the error underneath, or null
         */
        public ConfigurationException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** The options every command has: the configuration file, overrides, and JSON output. */
    public static final class Common {

        /** The configuration file. */
        @Option(names = {"-c", "--config"}, required = true, paramLabel = "FILE",
                description = "the migration's properties file: each key a MigrationBuilder method, such as"
                        + " source=jdbc:postgresql://old:5432/, source.user=..., databases=shop,crm")
        public Path config;

        @Option(names = {"-s", "--set"}, paramLabel = "KEY=VALUE",
                description = "a setting that overrides the file's (repeatable)")
        Map<String, String> overrides = new LinkedHashMap<>();

        @Option(names = "--json", description = "print the result as JSON")
        boolean json;

        /**
         * The settings: the file's, then the overrides.
         *
         * @return the settings by key
         */
        public Map<String, String> settings() {
            Properties p = new Properties();
            try (Reader r = Files.newBufferedReader(config, StandardCharsets.UTF_8)) {
                p.load(r);
            } catch (IOException e) {
                throw new ConfigurationException("cannot read " + config + ": " + e.getMessage(), e);
            }
            Map<String, String> settings = new LinkedHashMap<>();
            p.stringPropertyNames().forEach(k -> settings.put(k, p.getProperty(k)));
            settings.putAll(overrides);
            return settings;
        }

        /**
         * The migration the file describes.
         *
         * @return the migration, built (no connection opened yet)
         */
        public Migration open() {
            try {
                return builder(settings()).build();
            } catch (IllegalArgumentException | IllegalStateException e) {
                throw new ConfigurationException(config + ": " + e.getMessage(), e);
            }
        }

        void print(PrintWriter out, Object value, String text) {
            if (json) {
                out.println(JSON.writeValueAsString(value));
            } else {
                out.println(text);
            }
        }
    }

    /** The extensions on the class path, such as pgmigrate-pacemaker's. */
    static final List<CliExtension> EXTENSIONS = ServiceLoader.load(CliExtension.class).stream()
            .map(ServiceLoader.Provider::get).toList();

    /**
     * A builder set up from a file's settings: each extension's keys (under its prefix) go to the extension, the
     * others to {@code MigrationBuilder.configure}.
     *
     * @param settings the file's settings
     * @return the builder
     * @throws IllegalArgumentException naming the key, when a setting is wrong
     */
    public static MigrationBuilder builder(Map<String, String> settings) {
        Map<String, String> own = new LinkedHashMap<>(settings);
        Map<CliExtension, Map<String, String>> theirs = new LinkedHashMap<>();
        for (CliExtension e : EXTENSIONS) {
            Map<String, String> mine = new LinkedHashMap<>();
            own.entrySet().removeIf(x -> {
                if (x.getKey().startsWith(e.prefix())) {
                    mine.put(x.getKey(), x.getValue());
                    return true;
                }
                return false;
            });
            theirs.put(e, mine);
        }
        MigrationBuilder b = Migration.builder().configure(own);
        theirs.forEach((e, mine) -> e.configure(mine, settings, b));
        return b;
    }

    static final JsonMapper JSON = JsonMapper.builder().enable(SerializationFeature.INDENT_OUTPUT).build();

    /** A command's base: the common options and the output. */
    abstract static class Base implements Callable<Integer> {
        @Mixin
        Common common = new Common();

        @CommandLine.Spec
        CommandLine.Model.CommandSpec spec;

        PrintWriter out() {
            return spec.commandLine().getOut();
        }

        /** Prints a cutover's or rollback's report: exit 0 when traffic moved, 5 when the move was abandoned. */
        Integer moved(CutoverReport r) {
            common.print(out(), r, r.toText());
            return r.succeeded() ? 0 : ABANDONED;
        }
    }

    @Command(name = "preflight", description = "Checks both servers and every database; prints each finding with its"
            + " fix. Exit 3 on a blocker.")
    static final class Preflight extends Base {
        @Override
        public Integer call() {
            try (Migration m = common.open()) {
                PreflightReport r = m.preflight();
                common.print(out(), r, r.toTable());
                return r.hasBlockers() ? BLOCKED : 0;
            }
        }
    }

    @Command(name = "start", description = "Starts or resumes the migration (schema, copy, stream) and waits until the"
            + " target is in sync. With engine=STREAM, or --follow, it then stays, printing the status, until"
            + " interrupted (STREAM applies in this process).")
    static final class Start extends Base {
        @Option(names = "--timeout", defaultValue = "PT24H", description = "how long to wait for sync (ISO-8601)")
        Duration timeout;

        @Option(names = "--follow", description = "keep printing the status until interrupted")
        boolean follow;

        @Option(names = "--interval", defaultValue = "PT5S", description = "how often --follow prints (ISO-8601)")
        Duration interval;

        @Override
        public Integer call() throws InterruptedException {
            Migration m = common.open();
            // Registered before start(): an interrupt (Ctrl-C, SIGTERM) at any point closes the migration (its copy
            // and STREAM workers, its sessions, its lock) before the JVM ends, and waits at most a minute for that.
            CountDownLatch stop = new CountDownLatch(1);
            CountDownLatch closed = new CountDownLatch(1);
            Thread hook = new Thread(() -> {
                stop.countDown();
                try {
                    closed.await(60, java.util.concurrent.TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "pgmigrate-cli-stop");
            Runtime.getRuntime().addShutdownHook(hook);
            try {
                m.start();
                MigrationStatus synced = m.awaitInSync(timeout);
                common.print(out(), synced, synced.toText());
                if (follow || m.config().engine() == Engine.STREAM) {
                    while (!stop.await(interval.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS)) {
                        try {
                            MigrationStatus st = m.status();
                            common.print(out(), st, st.toText());
                        } catch (PgMigrateException e) {
                            // a status that fails (a server away for a moment) must not end the stream this runs
                            spec.commandLine().getErr().println("pgmigrate: status: " + e.getMessage());
                        }
                        out().flush();
                    }
                }
                return 0;
            } finally {
                try {
                    m.close();
                } finally {
                    closed.countDown();
                    try {
                        Runtime.getRuntime().removeShutdownHook(hook);
                    } catch (IllegalStateException shuttingDown) {
                        // the hook runs now and returns once closed is counted down
                    }
                }
            }
        }
    }

    @Command(name = "status", description = "Prints each database's phase, lag and copy progress, read from the servers;"
            + " with --offline, what the state store recorded, without connecting to any server.")
    static final class Status extends Base {
        @Option(names = "--offline", description = "read only the state store")
        boolean offline;

        @Override
        public Integer call() {
            try (Migration m = common.open()) {
                MigrationStatus st = offline ? m.recordedStatus() : m.status();
                common.print(out(), st, st.toText());
                return 0;
            }
        }
    }

    @Command(name = "verify", description = "Compares every table of both sides by key ranges. Exit 5 on a"
            + " difference.")
    static final class Verify extends Base {
        @Override
        public Integer call() {
            try (Migration m = common.open()) {
                VerificationReport r = m.verify();
                common.print(out(), r, r.toText());
                return r.matches() ? 0 : ABANDONED;
            }
        }
    }

    @Command(name = "cutover", description = "Moves traffic to the target: fence, sentinel, sequences, switch, reverse"
            + " stream. Exit 5 when abandoned (traffic stays on the source).")
    static final class Cutover extends Base {
        @Override
        public Integer call() {
            try (Migration m = common.open()) {
                return moved(m.cutover());
            }
        }
    }

    @Command(name = "rollback", description = "Moves traffic back to the source on the reverse stream. Exit 5 when"
            + " abandoned.")
    static final class Rollback extends Base {
        @Override
        public Integer call() {
            try (Migration m = common.open()) {
                return moved(m.rollback());
            }
        }
    }

    @Command(name = "recover", description = "Ends a cutover or rollback a crash left pending: finished if it reached"
            + " the traffic switch, undone if not.")
    static final class Recover extends Base {
        @Override
        public Integer call() {
            try (Migration m = common.open()) {
                Optional<CutoverReport> r = m.recover();
                if (r.isEmpty()) {
                    out().println(common.json ? "null" : "nothing was pending");
                    return 0;
                }
                common.print(out(), r.get(), r.get().toText());
                return 0;
            }
        }
    }

    @Command(name = "pause", description = "Stops the streams without dropping anything; start resumes them.")
    static final class Pause extends Base {
        @Override
        public Integer call() {
            try (Migration m = common.open()) {
                m.pause();
                out().println(common.json ? "{\"paused\": true}" : "paused; start resumes the streams");
                return 0;
            }
        }
    }

    @Command(name = "complete", description = "Removes every replication object and fence pgmigrate made on both"
            + " sides; the move cannot be undone after this.")
    static final class Complete extends Base {
        @Override
        public Integer call() {
            try (Migration m = common.open()) {
                m.complete();
                out().println(common.json ? "{\"completed\": true}" : "complete: every replication object and fence"
                        + " removed");
                return 0;
            }
        }
    }
}
