package io.pgmigrate.traffic;

import io.pgmigrate.CoreErrorCode;
import io.pgmigrate.PgMigrateException;
import io.pgmigrate.Side;
import io.pgmigrate.TrafficSwitch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A {@link TrafficSwitch} for applications that reach PostgreSQL through PgBouncer: client requests are held by
 * PgBouncer through the cutover instead of failing.
 *
 * <ul>
 *   <li>{@link #hold(Side)}, just before the old side is fenced: {@code PAUSE} of every migrated database on PgBouncer's
 *       admin console, in parallel. PgBouncer lets the transactions in flight finish (transaction pooling), closes its
 *       server connections, and makes every new request wait. Bounded by {@code pauseTimeout}: when a transaction does
 *       not finish in time, every database is resumed where it was and the cutover is abandoned before anything was
 *       fenced.</li>
 *   <li>{@link #switchTo(Side)}: writes the {@code [databases]} entries of the migrated databases for that side into
 *       the file {@code pgbouncer.ini} {@code %include}s (atomically), {@code RELOAD}, checks with
 *       {@code SHOW DATABASES} that PgBouncer now routes each database to that side's host and port. Idempotent.</li>
 *   <li>{@link #release(Side)}, once the new side takes writes: {@code RESUME}; the held requests go on, to the new
 *       side.</li>
 * </ul>
 *
 * <p>PgBouncer must run in transaction (or statement) pooling for a hold: in session pooling a {@code PAUSE} waits
 * for every client to disconnect, so the hold times out and the cutover is abandoned with nothing changed. Clients
 * wait at most PgBouncer's {@code query_wait_timeout} (120 s by default) if pgmigrate dies while holding them; a
 * {@code cutover()}, {@code rollback()} or {@code recover()} of the migration then lets them go.
 *
 * <pre>{@code
 * PgBouncerSwitch pgbouncer = PgBouncerSwitch.builder("127.0.0.1", 6432)
 *         .user("pgbouncer_admin").password(secret)
 *         .databasesFile(Path.of("/etc/pgbouncer/pgmigrate-databases.ini"))   // pgbouncer.ini: %include it
 *         .database("shop", "host=10.0.0.1 port=5432 dbname=shop", "host=10.0.0.2 port=5432 dbname=shop")
 *         .build();
 * pgbouncer.writeDatabasesFile(Side.SOURCE);   // once, before PgBouncer is (re)started with the %include
 * Migration.builder()...trafficSwitch(pgbouncer)...
 * }</pre>
 *
 * @since 0.2.0
 */
public final class PgBouncerSwitch implements TrafficSwitch {

    /** A {@code password=} setting in a libpq-style entry (keys are case-insensitive in PgBouncer). */
    private static final Pattern PASSWORD_SETTING = Pattern.compile("(^|\\s)password\\s*=",
            Pattern.CASE_INSENSITIVE);
    private static final Logger LOG = LoggerFactory.getLogger(PgBouncerSwitch.class);
    private static final Pattern PLAIN_NAME = Pattern.compile("[A-Za-z0-9_.]+");
    private static final Pattern SETTING = Pattern.compile("\\s*([A-Za-z_]+)\\s*=\\s*('((?:[^'\\\\]|\\\\.)*)'|\\S*)");

    /** Where one database of PgBouncer's goes for each side: libpq-style connect strings, as in pgbouncer.ini. */
    private record Route(String source, String target) {

        String connect(Side side) {
            return side == Side.SOURCE ? source : target;
        }
    }

    private final String host;
    private final int port;
    private final AdminConsole console;
    private final Path databasesFile;
    private final Map<String, Route> databases;
    private final Duration pauseTimeout;
    private final Duration commandTimeout;
    private final Object lock = new Object();
    private long heldSince;
    private Duration lastHold;

    private PgBouncerSwitch(Builder b) {
        this.host = b.host;
        this.port = b.port;
        this.console = new AdminConsole(b.psql, b.host, b.port, b.user, b.password, b.commandTimeout);
        this.databasesFile = Objects.requireNonNull(b.databasesFile, "databasesFile(Path) is required: the file"
                + " pgbouncer.ini %includes, which pgmigrate rewrites at the switch");
        if (b.databases.isEmpty()) {
            throw new IllegalArgumentException("no database: name PgBouncer's databases with database(name, sourceConnect,"
                    + " targetConnect)");
        }
        this.databases = Map.copyOf(b.databases);
        this.pauseTimeout = b.pauseTimeout;
        this.commandTimeout = b.commandTimeout;
    }

    /**
     * Starts a switch for the PgBouncer listening at {@code host} and {@code port}, whose admin console
     * (database {@code pgbouncer}) pgmigrate reaches with {@code psql}.
     *
     * @param host PgBouncer's host name or address, or the directory of its Unix socket
     * @param port PgBouncer's port
     * @return the builder
     */
    public static Builder builder(String host, int port) {
        return new Builder(host, port);
    }

    /**
     * Pauses every migrated database on PgBouncer and waits until the transactions in flight have finished; see the
     * class description.
     */
    @Override
    public void hold(Side side) {
        synchronized (lock) {
            long start = System.nanoTime();
            long deadline = start + pauseTimeout.toNanos();
            Map<String, Process> pauses = new LinkedHashMap<>();
            List<String> problems = new ArrayList<>();
            boolean timedOut = false;
            try {
                for (String db : sortedDatabases()) {
                    pauses.put(db, console.start(true, "PAUSE " + quote(db)));
                }
                for (Map.Entry<String, Process> e : pauses.entrySet()) {
                    try {
                        console.finish(e.getValue(), Duration.ofNanos(Math.max(1, deadline - System.nanoTime())));
                    } catch (AdminConsole.AdminException ae) {
                        timedOut |= ae.getMessage().startsWith("no answer");
                        problems.add("database " + e.getKey() + ": " + (ae.getMessage().startsWith("no answer")
                                ? "transactions still ran after " + pauseTimeout.toMillis() + " ms" : ae.getMessage()));
                    }
                }
            } catch (AdminConsole.AdminException e) {
                problems.add(e.getMessage());
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
                problems.add("interrupted while pausing");
            } finally {
                if (!problems.isEmpty()) {
                    pauses.values().forEach(Process::destroyForcibly); // a PAUSE still waiting is abandoned
                }
            }
            if (!problems.isEmpty()) {
                List<String> resumeProblems = resumeAll();
                String resumed = resumeProblems.isEmpty() ? "every database was resumed on the " + role(side)
                        : "resuming failed too (" + String.join("; ", resumeProblems) + "): RESUME them on PgBouncer's"
                        + " admin console";
                throw new PgMigrateException(timedOut ? TrafficErrorCode.HOLD_TIMED_OUT : TrafficErrorCode.PGBOUNCER_FAILED,
                        null, "PgBouncer " + address() + " could not pause " + String.join("; ", problems) + "; "
                        + resumed + (timedOut ? " (a PAUSE waits for the transactions in flight, and in session"
                        + " pooling for every client to disconnect: raise pauseTimeout or end the long transactions)"
                        : ""));
            }
            heldSince = start;
            LOG.info("PgBouncer {} paused {} in {} ms", address(), sortedDatabases(),
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
        }
    }

    /**
     * Routes every migrated database to {@code side}; see the class description. Requests held stay held until
     * {@link #release(Side)}, which the cutover calls once {@code side} takes writes (also after a crash, when another
     * process finishes or undoes the move). When the check after {@code RELOAD} fails, the previous file is put back
     * (PgBouncer reads it at its next {@code RELOAD} or start).
     */
    @Override
    public void switchTo(Side side) {
        synchronized (lock) {
            String previous = null;
            try {
                previous = Files.exists(databasesFile) ? Files.readString(databasesFile, StandardCharsets.UTF_8) : null;
            } catch (IOException e) {
                LOG.debug("cannot read {} before replacing it: {}", databasesFile, e.toString());
            }
            writeDatabasesFile(side);
            try {
                reloadAndCheck(side);
            } catch (RuntimeException e) {
                if (previous != null) {
                    try {
                        replaceFile(previous);
                    } catch (IOException restore) {
                        e.addSuppressed(restore);
                    }
                }
                throw e;
            }
        }
    }

    private void reloadAndCheck(Side side) {
        List<String> wrong;
        try {
            wrong = misrouted(console.run(commandTimeout, "RELOAD", "SHOW DATABASES"), side);
        } catch (AdminConsole.AdminException e) {
            throw new PgMigrateException(TrafficErrorCode.PGBOUNCER_FAILED, null, "PgBouncer " + address()
                    + ": RELOAD after writing " + databasesFile + " failed: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new PgMigrateException(CoreErrorCode.INTERRUPTED, null, "interrupted while PgBouncer "
                    + address() + " reloaded");
        }
        if (!wrong.isEmpty()) {
            throw new PgMigrateException(TrafficErrorCode.PGBOUNCER_FAILED, null, "PgBouncer " + address()
                    + " does not route " + String.join("; ", wrong) + " after RELOAD: does pgbouncer.ini"
                    + " %include " + databasesFile + ", with no other entry for these databases?");
        }
    }

    /** Resumes every migrated database: the requests held go on, to where {@link #switchTo(Side)} routed them. */
    @Override
    public void release(Side side) {
        synchronized (lock) {
            resume(side);
            if (heldSince != 0) {
                lastHold = Duration.ofNanos(System.nanoTime() - heldSince);
                heldSince = 0;
                LOG.info("PgBouncer {} resumed {} on the {}; requests were held for {} ms", address(),
                        sortedDatabases(), role(side), lastHold.toMillis());
            }
        }
    }

    private void resume(Side side) {
        List<String> problems = resumeAll();
        if (!problems.isEmpty()) {
            throw new PgMigrateException(TrafficErrorCode.PGBOUNCER_FAILED, null, "PgBouncer " + address()
                    + " routes the databases to the " + role(side) + " but could not resume "
                    + String.join("; ", problems) + "; RESUME them on its admin console");
        }
    }

    /**
     * How long the last hold lasted, from the start of its {@code PAUSE} to the end of the {@code RESUME} that ended
     * it: the longest any request could have waited in PgBouncer for the cutover.
     *
     * @return the duration, or empty before the first hold ended
     */
    public Optional<Duration> lastHold() {
        synchronized (lock) {
            return Optional.ofNullable(lastHold);
        }
    }

    /**
     * Writes the {@code [databases]} entries of the migrated databases for {@code side} into the databases file,
     * replacing it atomically and keeping its owner and permissions; PgBouncer reads it at its next start or
     * {@code RELOAD}. Call it once with {@link Side#SOURCE} when setting up.
     *
     * @param side the side the entries point at
     */
    public void writeDatabasesFile(Side side) {
        StringBuilder text = new StringBuilder()
                .append("# Written by pgmigrate's PgBouncerSwitch: the databases being migrated, routed to the ")
                .append(role(side)).append(".\n# pgbouncer.ini %includes this file; pgmigrate rewrites it at the")
                .append(" cutover and at a rollback.\n[databases]\n");
        for (String db : sortedDatabases()) {
            text.append(iniName(db)).append(" = ").append(databases.get(db).connect(side)).append('\n');
        }
        try {
            replaceFile(text.toString());
        } catch (IOException e) {
            throw new PgMigrateException(CoreErrorCode.INVALID_CONFIGURATION, null, "cannot write PgBouncer's databases"
                    + " file " + databasesFile + ": " + e.getMessage() + "; pgmigrate needs to write that file (and its"
                    + " directory, for an atomic replace)", e);
        }
    }

    /** Replaces the databases file with {@code text}: written and forced to disk under another name, then renamed. */
    private void replaceFile(String text) throws IOException {
        Path dir = databasesFile.toAbsolutePath().getParent();
        Path tmp = Files.createTempFile(dir, ".pgmigrate-", ".tmp");
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ch.write(ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8)));
                ch.force(true);
            }
            keepOwnerAndPermissions(tmp);
            try {
                Files.move(tmp, databasesFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, databasesFile, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    @Override
    public String description() {
        return "PgBouncer " + address() + " (" + String.join(", ", sortedDatabases()) + ")";
    }

    @Override
    public String toString() {
        return description();
    }

    private void keepOwnerAndPermissions(Path tmp) {
        PosixFileAttributeView view = Files.getFileAttributeView(tmp, PosixFileAttributeView.class);
        if (view == null) {
            return;
        }
        if (!Files.exists(databasesFile)) {
            try {
                // readable by PgBouncer, which runs as another user; a file created beforehand keeps its own mode
                view.setPermissions(PosixFilePermissions.fromString("rw-r--r--"));
            } catch (IOException e) {
                LOG.debug("could not set the mode of {}: {}", tmp, e.toString());
            }
            return;
        }
        try {
            PosixFileAttributes old = Files.readAttributes(databasesFile, PosixFileAttributes.class);
            view.setPermissions(old.permissions());
            try {
                view.setGroup(old.group());
                view.setOwner(old.owner());
            } catch (IOException | SecurityException notAllowed) {
                // only root may give a file away; the permissions are what PgBouncer needs to read it
            }
        } catch (IOException e) {
            LOG.debug("could not copy the attributes of {}: {}", databasesFile, e.toString());
        }
    }

    /** The databases whose route PgBouncer does not report as {@code side}'s host and port, after a RELOAD. */
    private List<String> misrouted(List<Map<String, String>> shown, Side side) {
        List<String> wrong = new ArrayList<>();
        for (String db : sortedDatabases()) {
            Map<String, String> actual = shown.stream().filter(r -> db.equals(r.get("name"))).findFirst().orElse(null);
            if (actual == null) {
                wrong.add(db + " (PgBouncer has no such database)");
                continue;
            }
            Map<String, String> want = settings(databases.get(db).connect(side));
            String host = want.get("host");
            String port = want.get("port");
            if ((host != null && !host.equals(actual.get("host"))) || (port != null && !port.equals(actual.get("port")))) {
                wrong.add(db + " to " + actual.get("host") + ":" + actual.get("port") + " instead of " + host + ":"
                        + port);
            }
        }
        return wrong;
    }

    private List<String> resumeAll() {
        List<String> problems = new ArrayList<>();
        try {
            String[] commands = sortedDatabases().stream().map(db -> "RESUME " + quote(db)).toArray(String[]::new);
            for (String error : console.runAll(commandTimeout, commands)) {
                if (!error.contains("is not paused")) {
                    problems.add(error);
                }
            }
        } catch (AdminConsole.AdminException e) {
            problems.add("the admin console: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            problems.add("interrupted");
        }
        return problems;
    }

    private List<String> sortedDatabases() {
        return databases.keySet().stream().sorted().toList();
    }

    private String address() {
        return host + ":" + port;
    }

    private static String role(Side side) {
        return side.name().toLowerCase(Locale.ROOT);
    }

    private static String quote(String name) {
        return '"' + name.replace("\"", "\"\"") + '"';
    }

    private static String iniName(String name) {
        return PLAIN_NAME.matcher(name).matches() ? name : quote(name);
    }

    /** The key=value settings of a libpq-style connect string. */
    static Map<String, String> settings(String connect) {
        Map<String, String> out = new LinkedHashMap<>();
        Matcher m = SETTING.matcher(connect);
        int at = 0;
        while (at < connect.length() && m.find(at) && m.start() == at) {
            out.put(m.group(1).toLowerCase(Locale.ROOT), m.group(3) != null
                    ? m.group(3).replaceAll("\\\\(.)", "$1") : m.group(2));
            at = m.end();
        }
        return out;
    }

    /** Builds a {@link PgBouncerSwitch}. */
    public static final class Builder {

        private final String host;
        private final int port;
        private String user;
        private String password;
        private String psql = "psql";
        private Path databasesFile;
        private final Map<String, Route> databases = new LinkedHashMap<>();
        private Duration pauseTimeout = Duration.ofSeconds(5);
        private Duration commandTimeout = Duration.ofSeconds(5);

        private Builder(String host, int port) {
            if (host == null || host.isBlank() || host.chars().anyMatch(ch -> ch < ' ')) {
                throw new IllegalArgumentException("PgBouncer's host must be a host name, an address or a socket"
                        + " directory: " + host);
            }
            if (port < 1 || port > 65535) {
                throw new IllegalArgumentException("PgBouncer's port must be 1 to 65535: " + port);
            }
            this.host = host;
            this.port = port;
        }

        /**
         * The {@code psql} that talks to the admin console (pgjdbc cannot: the console refuses the {@code SET} it sends
         * after logging in). Default {@code psql} from the {@code PATH}; any version of the PostgreSQL client does.
         *
         * @param psql the executable
         * @return this builder
         */
        public Builder psql(Path psql) {
            this.psql = Objects.requireNonNull(psql, "psql").toString();
            return this;
        }

        /**
         * The user logging in to the admin console; it must be in PgBouncer's {@code admin_users}.
         *
         * @param user the user name
         * @return this builder
         */
        public Builder user(String user) {
            this.user = Objects.requireNonNull(user, "user");
            return this;
        }

        /**
         * The admin user's password, when PgBouncer asks for one. Never logged or printed.
         *
         * @param password the password
         * @return this builder
         */
        public Builder password(String password) {
            this.password = Objects.requireNonNull(password, "password");
            return this;
        }

        /**
         * The file holding the migrated databases' {@code [databases]} entries, which {@code pgbouncer.ini}
         * {@code %include}s and which pgmigrate rewrites at each switch. No other file may define these databases.
         *
         * @param file the file's path, on the machine running pgmigrate (and PgBouncer)
         * @return this builder
         */
        public Builder databasesFile(Path file) {
            this.databasesFile = Objects.requireNonNull(file, "databasesFile");
            return this;
        }

        /**
         * A database of PgBouncer's that is being migrated, with its entry for each side: a libpq-style connect string
         * as in {@code pgbouncer.ini} ({@code host=10.0.0.1 port=5432 dbname=shop pool_size=20}).
         *
         * @param name the database's name in PgBouncer (what clients connect to)
         * @param sourceConnect its entry while traffic goes to the source
         * @param targetConnect its entry once traffic goes to the target
         * @return this builder
         */
        public Builder database(String name, String sourceConnect, String targetConnect) {
            if (name == null || name.isEmpty() || name.chars().anyMatch(ch -> ch == '\n' || ch == '\r' || ch == 0)) {
                throw new IllegalArgumentException("a PgBouncer database name must be a non-empty line: " + name);
            }
            for (String connect : new String[] {sourceConnect, targetConnect}) {
                if (connect == null || connect.isBlank() || connect.chars().anyMatch(ch -> ch == '\n' || ch == '\r')) {
                    throw new IllegalArgumentException("database " + name + ": each side's entry must be one line of"
                            + " key=value settings, such as host=10.0.0.1 port=5432 dbname=" + name);
                }
                if (PASSWORD_SETTING.matcher(connect).find()) {
                    // Never echoed: the entry holds a secret.
                    throw new IllegalArgumentException("database " + name + ": an entry sets password=, and pgmigrate"
                            + " writes the entries to a file PgBouncer reads; keep the servers' passwords out of it, in"
                            + " PgBouncer's auth_file (or auth_query), which it uses to log in to either server");
                }
            }
            if (databases.put(name, new Route(sourceConnect.strip(), targetConnect.strip())) != null) {
                throw new IllegalArgumentException("database " + name + " is named twice");
            }
            return this;
        }

        /**
         * How long a hold waits for the transactions in flight to finish before it gives up and abandons the
         * cutover. Default 5 s. Every request made meanwhile waits too, so keep it short.
         *
         * @param timeout the limit, positive
         * @return this builder
         */
        public Builder pauseTimeout(Duration timeout) {
            this.pauseTimeout = positive(timeout, "pauseTimeout");
            return this;
        }

        /**
         * The limit for connecting to the admin console and for each other command. Default 5 s.
         *
         * @param timeout the limit, positive
         * @return this builder
         */
        public Builder commandTimeout(Duration timeout) {
            this.commandTimeout = positive(timeout, "commandTimeout");
            return this;
        }

        /**
         * Builds the switch; it connects to nothing until the cutover.
         *
         * @return the switch
         */
        public PgBouncerSwitch build() {
            return new PgBouncerSwitch(this);
        }

        private static Duration positive(Duration d, String what) {
            if (d == null || d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException(what + " must be positive: " + d);
            }
            return d;
        }
    }
}
