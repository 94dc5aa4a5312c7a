package io.pgmigrate.testkit;

import io.pgmigrate.Endpoint;
import io.pgmigrate.testkit.internal.ServerSettings;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import io.zonky.test.db.postgres.util.LinuxUtils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.regex.Pattern;

/**
 * A PostgreSQL server of a chosen major run from zonky's binaries in a temporary data directory, listening on
 * 127.0.0.1 only. Several majors can run at once in one JVM; works as root (through {@code unshare -U}) and as a
 * normal user.
 *
 * <pre>{@code
 * try (EmbeddedPostgresServer pg = EmbeddedPostgresServer.builder().major(18).config("work_mem", "64MB").start()) {
 *     pg.createDatabase("shop");
 * }
 * }</pre>
 */
public final class EmbeddedPostgresServer implements PostgresServer {

    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedPostgresServer.class);

    private static final String HOST = "127.0.0.1";
    private static final String SUPERUSER = "postgres";
    private static final int START_ATTEMPTS = 3;
    private static final Duration STARTUP_WAIT = Duration.ofSeconds(60);

    /**
     * Settings zonky always passes on the postgres command line, which wins over the configuration file; ours for
     * these keys must go the same way, where pg_ctl hands them to a shell, so their values are restricted.
     */
    private static final Set<String> COMMAND_LINE_KEYS = Set.of("timezone", "synchronous_commit", "max_connections");
    private static final Pattern SHELL_SAFE = Pattern.compile("[A-Za-z0-9_.:/+-]+");

    /** Ports handed to servers of this JVM that are still running, so two concurrent starts never pick the same. */
    private static final Set<Integer> PORTS_IN_USE = ConcurrentHashMap.newKeySet();

    private final int major;
    private final int port;
    private final Path dataDirectory;
    private final EmbeddedPostgres postgres;
    private final AtomicBoolean closed = new AtomicBoolean();
    /** The superuser's password once password authentication is on; null while every local client is trusted. */
    private volatile String password;

    private EmbeddedPostgresServer(int major, int port, Path dataDirectory, EmbeddedPostgres postgres) {
        this.major = major;
        this.port = port;
        this.dataDirectory = dataDirectory;
        this.postgres = postgres;
    }

    /**
     * Starts a server of {@code major} with the default settings.
     *
     * @throws IllegalArgumentException for an unsupported major
     * @throws IllegalStateException    when the binaries cannot be had or the server does not start
     */
    public static EmbeddedPostgresServer start(int major) {
        return builder().major(major).start();
    }

    /** A builder for a server with settings of its own. */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    public int majorVersion() {
        return major;
    }

    @Override
    public String host() {
        return HOST;
    }

    @Override
    public int port() {
        return port;
    }

    @Override
    public String superuser() {
        return SUPERUSER;
    }

    /** As the superuser, with its password when the server was started with {@link Builder#superuserPassword}. */
    @Override
    public Endpoint endpoint() {
        Endpoint e = Endpoint.of(HOST, port, null).user(SUPERUSER);
        String p = password;
        return p == null ? e : e.password(p);
    }

    /** The same as {@link #endpoint()}: every embedded server is on this machine's loopback address. */
    @Override
    public Endpoint endpointForPeers() {
        return endpoint();
    }

    /** The server's data directory, deleted by {@link #close()}; handy for reading its files while debugging. */
    public Path dataDirectory() {
        return dataDirectory;
    }

    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        try {
            postgres.close();
        } catch (IOException e) {
            LOG.warn("Stopping {} failed", this, e);
        } finally {
            PORTS_IN_USE.remove(port);
            if (System.getProperty("ot.epg.no-cleanup") == null) {
                deleteRecursively(dataDirectory);
            }
        }
    }

    @Override
    public String toString() {
        return "embedded PostgreSQL " + major + " on " + HOST + ":" + port;
    }

    /** Settings for one embedded server; {@link #start()} starts it. Not thread-safe. */
    public static final class Builder {

        private Integer major;
        private final Map<String, String> config = new LinkedHashMap<>();
        private String superuserPassword;
        /** For tests of the start itself: this port, and no other on failure. */
        private Integer port;

        private Builder() {
        }

        /**
         * The PostgreSQL major version to run.
         *
         * @throws IllegalArgumentException when no binaries are pinned for it
         */
        public Builder major(int major) {
            if (!PostgresBinaries.supportedMajors().contains(major)) {
                throw new IllegalArgumentException("major must be one of " + PostgresBinaries.supportedMajors()
                        + ", was " + major);
            }
            this.major = major;
            return this;
        }

        /**
         * A server setting, written to {@code postgresql.conf} exactly as given; overrides the testkit's default for
         * the same key.
         *
         * @throws IllegalArgumentException for a key that is not a setting name, a value with a line break, or a
         *                                  value of {@code timezone}, {@code synchronous_commit} or
         *                                  {@code max_connections} with characters other than letters, digits and
         *                                  {@code _.:/+-}
         */
        public Builder config(String key, String value) {
            ServerSettings.checkKey(key);
            ServerSettings.checkValue(key, value);
            if (COMMAND_LINE_KEYS.contains(key.toLowerCase(Locale.ROOT))
                    && !SHELL_SAFE.matcher(value).matches()) {
                throw new IllegalArgumentException("value of " + key + " must consist of letters, digits and _.:/+- "
                        + "only, because it is passed on the server's command line; was: " + value);
            }
            config.put(key, value);
            return this;
        }

        /**
         * Requires password authentication: the superuser gets {@code password}, and every TCP connection, replication
         * connections included, must log in with SCRAM-SHA-256 ({@code pg_hba.conf}). {@link #endpoint()} and
         * {@link #connect(String)} carry the password; {@link #jdbcUrl(String)} and {@link #toString()} never do.
         * Without this option every client on 127.0.0.1 is trusted, as before.
         *
         * @throws IllegalArgumentException for an empty password or one with a line break or NUL character
         * @throws IllegalStateException    when a password was already set
         */
        public Builder superuserPassword(String password) {
            if (superuserPassword != null) {
                throw new IllegalStateException("superuserPassword(...) was already set");
            }
            if (password == null || password.isEmpty()) {
                throw new IllegalArgumentException("superuserPassword must not be empty");
            }
            if (password.indexOf('\n') >= 0 || password.indexOf('\r') >= 0 || password.indexOf('\0') >= 0) {
                throw new IllegalArgumentException("superuserPassword must not contain line breaks or NUL characters");
            }
            this.superuserPassword = password;
            return this;
        }

        /** Starts on {@code port} without trying another: for the testkit's own tests of a port taken meanwhile. */
        Builder port(int port) {
            this.port = port;
            return this;
        }

        /**
         * Starts the server: resolves the binaries (downloading them once if needed), runs initdb in a new temporary
         * directory and starts PostgreSQL on a free port.
         *
         * @throws IllegalStateException when {@link #major(int)} was not set, the binaries cannot be had, or the
         *                               server does not start
         */
        public EmbeddedPostgresServer start() {
            if (major == null) {
                throw new IllegalStateException("major(...) was not set; choose one of "
                        + PostgresBinaries.supportedMajors());
            }
            PostgresBinaries binaries = PostgresBinaries.forMajor(major);
            binaries.archive(); // fail here with our message rather than inside zonky
            Map<String, String> settings = new LinkedHashMap<>(ServerSettings.defaults(major));
            settings.put("listen_addresses", HOST);
            // Keys are case-insensitive in PostgreSQL: a user's key replaces the default however it is spelled.
            config.forEach((k, v) -> {
                settings.keySet().removeIf(existing -> existing.equalsIgnoreCase(k));
                settings.put(k, v);
            });
            if (this.port != null) {
                return startOnce(binaries, this.port, settings);
            }
            RuntimeException last = null;
            for (int attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
                int port = reservePort();
                try {
                    return startOnce(binaries, port, settings);
                } catch (RuntimeException e) {
                    PORTS_IN_USE.remove(port);
                    last = e;
                    // The port was free when chosen but another process may have taken it before PostgreSQL bound
                    // it; only that case is worth another try.
                    if (!portIsFree(port) && attempt < START_ATTEMPTS) {
                        LOG.warn("Port {} was taken before PostgreSQL {} could bind it; trying another", port, major);
                        continue;
                    }
                    throw e;
                }
            }
            throw last;
        }

        private EmbeddedPostgresServer startOnce(PostgresBinaries binaries, int port, Map<String, String> settings) {
            Path dataDirectory;
            try {
                dataDirectory = Files.createTempDirectory("pgmigrate-pg" + major + "-");
                refuseRootWithoutUnshare(dataDirectory);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot create a temporary data directory", e);
            }
            EmbeddedPostgres.Builder zonky = EmbeddedPostgres.builder()
                    .setPgBinaryResolver(binaries)
                    .setPort(port)
                    .setDataDirectory(dataDirectory)
                    .setCleanDataDirectory(true)
                    .setPGStartupWait(STARTUP_WAIT)
                    .setDataDirectoryCustomizer(dir -> writeSettings(dir.toPath(), settings));
            settings.forEach((k, v) -> {
                if (COMMAND_LINE_KEYS.contains(k.toLowerCase(Locale.ROOT))) {
                    zonky.setServerConfig(k, v);
                }
            });
            EmbeddedPostgres pg;
            try {
                pg = zonky.start();
            } catch (IOException | RuntimeException | ExceptionInInitializerError e) {
                // zonky reports a failure to read or unpack the binaries as ExceptionInInitializerError.
                deleteRecursively(dataDirectory);
                throw new IllegalStateException("PostgreSQL " + major + " (" + binaries + ") did not start on port "
                        + port + ": " + e.getMessage() + "; its output is logged by "
                        + EmbeddedPostgres.class.getName(), e);
            }
            EmbeddedPostgresServer server = new EmbeddedPostgresServer(major, port, dataDirectory, pg);
            server.checkServer(binaries);
            if (superuserPassword != null) {
                server.requirePassword(superuserPassword);
            }
            LOG.info("Started {} (binaries {}, data in {})", server, binaries.version(), dataDirectory);
            return server;
        }

        private int reservePort() {
            for (int i = 0; i < 20; i++) {
                int p = freePort();
                if (PORTS_IN_USE.add(p)) {
                    return p;
                }
            }
            throw new IllegalStateException("no free port found on " + HOST);
        }
    }

    /**
     * Checks that the server answering on our port is the one just started, of the major asked for. zonky takes a
     * server as started once something on the port answers; if another process (a second test JVM starting a server
     * of its own) was given the same free port first, our postmaster could not bind it and the answer came from theirs.
     * Then this start fails, and {@link Builder#start()} tries another port.
     */
    private void checkServer(PostgresBinaries binaries) {
        String directory;
        int actual;
        try (Connection c = connect("postgres"); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT current_setting('server_version_num'),"
                     + " current_setting('data_directory')")) {
            rs.next();
            actual = Integer.parseInt(rs.getString(1)) / 10000;
            directory = rs.getString(2);
        } catch (SQLException e) {
            close();
            throw new IllegalStateException("cannot query " + this + ": " + e.getMessage(), e);
        }
        if (!sameDirectory(directory)) {
            close();
            throw new IllegalStateException("port " + port + " is answered by another PostgreSQL server (data in "
                    + directory + "), not the one started in " + dataDirectory + ": another process took the port"
                    + " first");
        }
        if (actual != major) {
            close();
            throw new IllegalStateException(binaries + " run PostgreSQL " + actual + ", not " + major
                    + "; check -Dpgmigrate.testkit.pg" + major + ".binaries");
        }
    }

    private boolean sameDirectory(String reported) {
        try {
            return Path.of(reported).toRealPath().equals(dataDirectory.toRealPath());
        } catch (IOException | java.nio.file.InvalidPathException e) {
            return false; // not a directory this process can see: not ours
        }
    }

    /**
     * Gives the superuser a password, then makes pg_hba.conf ask every TCP client for one. This happens after start
     * because zonky checks a new server by logging in without a password; the Unix socket stays trusted.
     */
    private void requirePassword(String superuserPassword) {
        try (Connection c = connect("postgres"); Statement s = c.createStatement()) {
            s.execute("SET password_encryption = 'scram-sha-256'");
            // A literal, not a parameter: ALTER ROLE takes none. standard_conforming_strings is on by default.
            s.execute("ALTER ROLE " + SUPERUSER + " PASSWORD '" + superuserPassword.replace("'", "''") + "'");
            Files.write(dataDirectory.resolve("pg_hba.conf"), List.of(
                    "# pgmigrate-testkit: password authentication",
                    "local   all          all                 trust",
                    "local   replication  all                 trust",
                    "host    all          all   127.0.0.1/32  scram-sha-256",
                    "host    replication  all   127.0.0.1/32  scram-sha-256",
                    "host    all          all   ::1/128       scram-sha-256",
                    "host    replication  all   ::1/128       scram-sha-256"), StandardCharsets.UTF_8);
            s.execute("SELECT pg_reload_conf()");
        } catch (SQLException | IOException e) {
            close();
            throw new IllegalStateException("cannot turn on password authentication on " + this + ": "
                    + e.getMessage(), e);
        }
        password = superuserPassword;
        awaitPasswordRequired();
    }

    /** The postmaster rereads pg_hba.conf on its own time after the reload signal; wait until it has. */
    private void awaitPasswordRequired() {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        long pause = 10;
        while (true) {
            Properties props = new Properties();
            props.setProperty("user", SUPERUSER);
            try (Connection c = new org.postgresql.Driver().connect(endpoint().jdbcUrl("postgres"), props)) {
                // still trusted
            } catch (SQLException e) {
                return;
            }
            if (System.nanoTime() > deadline) {
                close();
                throw new IllegalStateException(this + " still admits clients without a password 30 s after"
                        + " pg_hba.conf was reloaded");
            }
            try {
                Thread.sleep(pause);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                close();
                throw new IllegalStateException("interrupted while starting " + this, e);
            }
            pause = Math.min(pause * 2, 200);
        }
    }

    private static void writeSettings(Path dataDirectory, Map<String, String> settings) {
        // Settings go to the configuration file rather than the command line: pg_ctl passes its options through a
        // shell, so values with spaces or quotes would be split or interpreted there.
        List<String> lines = new ArrayList<>();
        lines.add("");
        lines.add("# pgmigrate-testkit");
        settings.forEach((k, v) -> {
            if (!COMMAND_LINE_KEYS.contains(k.toLowerCase(Locale.ROOT))) {
                lines.add(ServerSettings.confLine(k, v));
            }
        });
        try {
            Files.write(dataDirectory.resolve("postgresql.conf"), lines, StandardCharsets.UTF_8,
                    StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write settings to " + dataDirectory, e);
        }
    }

    /**
     * PostgreSQL refuses to run as root; zonky then runs it in a user namespace with {@code unshare -U}. Where that
     * is not allowed, say so before initdb fails with a less helpful message.
     */
    private static void refuseRootWithoutUnshare(Path dataDirectory) throws IOException {
        Object uid;
        try {
            // The owner of a directory we just created is our effective user, on every POSIX system.
            uid = Files.getAttribute(dataDirectory, "unix:uid");
        } catch (UnsupportedOperationException | IllegalArgumentException e) {
            return;
        }
        if (Integer.valueOf(0).equals(uid) && !LinuxUtils.isUnshareAvailable()) {
            deleteRecursively(dataDirectory);
            throw new IllegalStateException("PostgreSQL refuses to run as root, and `unshare -U` (which would run it "
                    + "in a user namespace) is not usable here. Run the tests as a normal user, allow unprivileged "
                    + "user namespaces (sysctl user.max_user_namespaces / kernel.unprivileged_userns_clone), or use "
                    + "the Testcontainers provider (-Dpgmigrate.testkit.provider=testcontainers)");
        }
    }

    private static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName(HOST))) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot find a free port on " + HOST, e);
        }
    }

    private static boolean portIsFree(int port) {
        try (ServerSocket s = new ServerSocket()) {
            s.bind(new InetSocketAddress(InetAddress.getByName(HOST), port), 1);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static void deleteRecursively(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try {
            Files.walkFileTree(root, new SimpleFileVisitor<>() {
                @Override
                public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                    Files.deleteIfExists(file);
                    return FileVisitResult.CONTINUE;
                }

                @Override
                public FileVisitResult visitFileFailed(Path file, IOException e) throws IOException {
                    if (e instanceof NoSuchFileException) {
                        return FileVisitResult.CONTINUE;
                    }
                    throw e;
                }

                @Override
                public FileVisitResult postVisitDirectory(Path dir, IOException e) throws IOException {
                    Files.deleteIfExists(dir);
                    return FileVisitResult.CONTINUE;
                }
            });
        } catch (IOException e) {
            LOG.warn("Could not delete {}", root, e);
        }
    }
}
