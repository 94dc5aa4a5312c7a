package io.pgmigrate.traffic;

import io.pgmigrate.PgMigrateException;
import io.pgmigrate.Side;
import io.pgmigrate.TrafficSwitch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.sql.DataSource;
import java.io.PrintWriter;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.sql.CallableStatement;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.sql.SQLFeatureNotSupportedException;
import java.sql.SQLTransientConnectionException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * A {@link DataSource} for Java applications that holds their requests through the cutover instead of failing them,
 * and is the migration's {@link TrafficSwitch} at the same time. Put it under the application's pool (HikariCP's
 * {@code setDataSource}), with one {@code DataSource} for each side:
 *
 * <pre>{@code
 * HoldingDataSource db = HoldingDataSource.builder(sourceDataSource, targetDataSource).build();
 * HikariConfig pool = new HikariConfig();
 * pool.setDataSource(db);
 * Migration.builder()...trafficSwitch(db)...
 * }</pre>
 *
 * <p>The connections it hands out are the application's for as long as it likes; underneath, each holds a connection
 * to the side that takes traffic. A transaction begins with the first statement executed (or each statement, in
 * auto-commit) and ends with {@code commit}, {@code rollback}, {@code close} or the end of the statement. Then:
 *
 * <ul>
 *   <li>{@link #hold(Side)}, just before the old side is fenced: a transaction about to begin waits, and so does
 *       {@code getConnection}; the hold waits, bounded by {@code drainTimeout}, until the transactions in flight have
 *       ended. When one does not end in time, the hold gives up: everything waiting goes on, and the cutover is
 *       abandoned before anything was fenced.</li>
 *   <li>{@link #switchTo(Side)} points new connections at the new side.</li>
 *   <li>{@link #release(Side)}, once the new side takes writes: the transactions waiting begin, each on a connection to
 *       the new side that replaced its old one at that boundary, with the settings the application made
 *       (auto-commit, isolation, read-only, schema, ...) and its statements prepared again with their parameters.</li>
 * </ul>
 *
 * <p>A request waits at most {@code maxWait}; after that it fails with a {@link SQLTransientConnectionException}
 * (SQLSTATE 08001). What cannot move: a result set, metadata object or {@code unwrap}ped driver object obtained before
 * the switch still belongs to the old connection; objects from {@code ResultSet.getStatement()} are the driver's own.
 *
 * @since 0.2.0
 */
public final class HoldingDataSource implements DataSource, TrafficSwitch {

    private static final Logger LOG = LoggerFactory.getLogger(HoldingDataSource.class);
    private static final Set<String> CONNECTION_SETTINGS = Set.of("setAutoCommit", "setReadOnly",
            "setTransactionIsolation", "setSchema", "setCatalog", "setHoldability", "setTypeMap", "setClientInfo",
            "setNetworkTimeout");
    private static final Set<String> STATEMENT_CREATORS = Set.of("createStatement", "prepareStatement", "prepareCall");

    private final DataSource source;
    private final DataSource target;
    private final Duration drainTimeout;
    private final Duration maxWait;
    private final List<String> initSql;
    private final Object lock = new Object();
    private Side side;
    private long generation;
    private boolean holding;
    private int inFlight;
    private int waiting;
    private long heldSince;
    private Duration lastHold;

    private HoldingDataSource(Builder b) {
        this.source = b.source;
        this.target = b.target;
        this.side = Objects.requireNonNull(b.initial, "initial(Side) is required: the side that takes traffic now"
                + " (SOURCE before the cutover, TARGET after it); a guess could send writes to the side without"
                + " traffic");
        this.drainTimeout = b.drainTimeout;
        this.maxWait = b.maxWait;
        this.initSql = List.copyOf(b.initSql);
    }

    /**
     * Starts a holding data source over one {@code DataSource} per side.
     *
     * @param source connections to the source server's database
     * @param target connections to the target server's database
     * @return the builder
     */
    public static Builder builder(DataSource source, DataSource target) {
        return new Builder(source, target);
    }

    // ---------------------------------------------------------------------------------------------- TrafficSwitch

    /**
     * Makes new transactions and connections wait, then waits for the transactions in flight to end; see the class
     * description.
     */
    @Override
    public void hold(Side side) {
        synchronized (lock) {
            long start = System.nanoTime();
            holding = true;
            heldSince = start;
            long deadline = start + drainTimeout.toNanos();
            try {
                while (inFlight > 0) {
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        int running = inFlight;
                        holding = false;
                        lock.notifyAll();
                        throw new PgMigrateException(TrafficErrorCode.HOLD_TIMED_OUT, null, running + " transactions"
                                + " of the application still ran after " + drainTimeout.toMillis() + " ms; the requests"
                                + " held went on to the " + role(side) + " (raise drainTimeout, or end long"
                                + " transactions before the cutover)");
                    }
                    TimeUnit.NANOSECONDS.timedWait(lock, left);
                }
            } catch (InterruptedException e) {
                holding = false;
                lock.notifyAll();
                Thread.currentThread().interrupt();
                throw new PgMigrateException(io.pgmigrate.CoreErrorCode.INTERRUPTED, null, "interrupted while waiting"
                        + " for the application's transactions to end");
            }
            LOG.info("holding the application's requests: no transaction runs on the {} (drained in {} ms)", role(side),
                    TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
        }
    }

    /** Points new connections, and connections at their next transaction, at {@code side}. */
    @Override
    public void switchTo(Side side) {
        synchronized (lock) {
            if (this.side != side) {
                this.side = side;
                generation++;
            }
        }
    }

    /** Lets the held requests go, to the side {@link #switchTo(Side)} named. */
    @Override
    public void release(Side side) {
        synchronized (lock) {
            if (holding) {
                holding = false;
                lastHold = Duration.ofNanos(System.nanoTime() - heldSince);
                LOG.info("released {} requests held for {} ms, to the {}", waiting, lastHold.toMillis(), role(this.side));
                lock.notifyAll();
            }
        }
    }

    @Override
    public String description() {
        return "holding DataSource";
    }

    /**
     * The side connections go to now.
     *
     * @return the side
     */
    public Side side() {
        synchronized (lock) {
            return side;
        }
    }

    /**
     * Whether requests are held now.
     *
     * @return true between {@link #hold(Side)} and {@link #release(Side)}
     */
    public boolean holding() {
        synchronized (lock) {
            return holding;
        }
    }

    /**
     * How many requests wait now (transactions about to begin, and {@code getConnection} calls).
     *
     * @return the number
     */
    public int waiting() {
        synchronized (lock) {
            return waiting;
        }
    }

    /**
     * How long the last hold lasted: the longest any request waited for a cutover.
     *
     * @return the duration, or empty before the first hold ended
     */
    public Optional<Duration> lastHold() {
        synchronized (lock) {
            return Optional.ofNullable(lastHold);
        }
    }

    // ----------------------------------------------------------------------------------------------- DataSource

    @Override
    public Connection getConnection() throws SQLException {
        return open(null, null);
    }

    @Override
    public Connection getConnection(String username, String password) throws SQLException {
        return open(username, password);
    }

    private Connection open(String user, String password) throws SQLException {
        synchronized (lock) {
            awaitNotHolding();
        }
        Handle h = new Handle(user, password);
        h.connect();
        return (Connection) Proxy.newProxyInstance(Connection.class.getClassLoader(), new Class<?>[] {Connection.class},
                h);
    }

    /** Waits while holding; the caller holds {@link #lock}. */
    private void awaitNotHolding() throws SQLException {
        if (!holding) {
            return;
        }
        waiting++;
        try {
            long deadline = System.nanoTime() + maxWait.toNanos();
            while (holding) {
                if (System.nanoTime() - heldSince > maxWait.toNanos() && heldSince != 0) {
                    // a hold nobody released (the process driving the cutover died): it ends by itself
                    LOG.warn("the hold began {} ms ago and was never released; letting requests go to the {}",
                            TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - heldSince), role(side));
                    holding = false;
                    lock.notifyAll();
                    break;
                }
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new SQLTransientConnectionException("pgmigrate held this request for " + maxWait.toMillis()
                            + " ms while traffic moved, and it is still held", "08001");
                }
                TimeUnit.NANOSECONDS.timedWait(lock, left);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new SQLTransientConnectionException("interrupted while held for the cutover", "08001", e);
        } finally {
            waiting--;
        }
    }

    private Connection physical(Side s, String user, String password) throws SQLException {
        DataSource ds = s == Side.SOURCE ? source : target;
        return user == null ? ds.getConnection() : ds.getConnection(user, password);
    }

    @Override
    public PrintWriter getLogWriter() throws SQLException {
        return source.getLogWriter();
    }

    @Override
    public void setLogWriter(PrintWriter out) throws SQLException {
        source.setLogWriter(out);
        target.setLogWriter(out);
    }

    @Override
    public void setLoginTimeout(int seconds) throws SQLException {
        source.setLoginTimeout(seconds);
        target.setLoginTimeout(seconds);
    }

    @Override
    public int getLoginTimeout() throws SQLException {
        return source.getLoginTimeout();
    }

    @Override
    public java.util.logging.Logger getParentLogger() throws SQLFeatureNotSupportedException {
        throw new SQLFeatureNotSupportedException("no java.util.logging here; pgmigrate logs through SLF4J");
    }

    @Override
    public <T> T unwrap(Class<T> iface) throws SQLException {
        if (iface.isInstance(this)) {
            return iface.cast(this);
        }
        throw new SQLException("not a wrapper for " + iface.getName());
    }

    @Override
    public boolean isWrapperFor(Class<?> iface) {
        return iface.isInstance(this);
    }

    private static String role(Side side) {
        return side.name().toLowerCase(Locale.ROOT);
    }

    // ------------------------------------------------------------------------------------ connections, statements

    /** One connection handed out: the physical connection underneath, replaced at a transaction's boundary. */
    private final class Handle implements InvocationHandler {
        private final String user;
        private final String password;
        /** The settings the application made, replayed on a new physical connection, in the order first made. */
        private final Map<String, Object[]> settings = new LinkedHashMap<>();
        private Connection physical;
        private long gen;
        private boolean autoCommit = true;
        /** Counted in {@code inFlight}; read and changed under {@link #lock} only, so it is ended exactly once. */
        private boolean inTransaction;
        private volatile boolean closed;
        private Connection self;

        Handle(String user, String password) {
            this.user = user;
            this.password = password;
        }

        /** Opens a physical connection to the side traffic goes to now, with the application's settings. */
        void connect() throws SQLException {
            Side s;
            long g;
            synchronized (lock) {
                s = side;
                g = generation;
            }
            Connection c = physical(s, user, password);
            try {
                if (!initSql.isEmpty()) {
                    try (Statement st = c.createStatement()) {
                        for (String sql : initSql) {
                            st.execute(sql);
                        }
                    }
                    if (!c.getAutoCommit()) {
                        c.commit();
                    }
                }
                for (Map.Entry<String, Object[]> e : settings.entrySet()) {
                    call(c, settingMethod(e.getKey()), e.getValue());
                }
                autoCommit = c.getAutoCommit();
            } catch (SQLException | RuntimeException e) {
                closeQuietly(c);
                throw e;
            }
            Connection old = physical;
            physical = c;
            gen = g;
            if (old != null) {
                closeQuietly(old);
            }
        }

        /** A transaction begins: waits while holding, then moves to the current side if it changed. */
        void begin() throws SQLException {
            long current;
            synchronized (lock) {
                if (inTransaction) {
                    return;
                }
                awaitNotHolding();
                inFlight++;
                inTransaction = true;
                current = generation;
            }
            try {
                if (current != gen) {
                    connect();
                }
            } catch (SQLException | RuntimeException e) {
                end();
                throw e;
            }
        }

        void end() {
            synchronized (lock) {
                if (!inTransaction) {
                    return;
                }
                inTransaction = false;
                inFlight--;
                lock.notifyAll();
            }
        }

        /** Outside a transaction, moves to the side traffic goes to now if it changed; never waits for a hold. */
        void moveIfStale() throws SQLException {
            long current;
            synchronized (lock) {
                if (inTransaction) {
                    return;
                }
                current = generation;
            }
            if (current != gen) {
                connect();
            }
        }

        @Override
        public Object invoke(Object proxy, Method m, Object[] args) throws Throwable {
            self = (Connection) proxy;
            String name = m.getName();
            switch (name) {
                case "equals":
                    return proxy == args[0];
                case "hashCode":
                    return System.identityHashCode(proxy);
                case "toString":
                    return "HoldingDataSource connection" + (closed ? " (closed)" : "");
                case "isClosed":
                    return closed;
                case "close":
                    if (!closed) {
                        closed = true;
                        try {
                            physical.close();
                        } finally {
                            end();
                        }
                    }
                    return null;
                case "abort":
                    closed = true;
                    try {
                        return call(physical, m, args);
                    } finally {
                        end();
                    }
                case "unwrap":
                    if (((Class<?>) args[0]).isInstance(proxy)) {
                        return proxy;
                    }
                    moveIfStale(); // the driver's object then belongs to the side with traffic
                    return physical.unwrap((Class<?>) args[0]);
                case "isWrapperFor":
                    return ((Class<?>) args[0]).isInstance(proxy) || physical.isWrapperFor((Class<?>) args[0]);
                default:
                    break;
            }
            if (closed) {
                throw new SQLException("connection closed", "08003");
            }
            if (STATEMENT_CREATORS.contains(name)) {
                // created where traffic goes now, so its parameters need no replay unless it is kept across a move
                moveIfStale();
                Statement physicalStatement = (Statement) call(physical, m, args);
                StatementHandle sh = new StatementHandle(this, m, args, physicalStatement, physical);
                return Proxy.newProxyInstance(Statement.class.getClassLoader(), new Class<?>[] {m.getReturnType()}, sh);
            }
            if (name.equals("commit") || (name.equals("rollback") && (args == null || args.length == 0))) {
                try {
                    return call(physical, m, args);
                } finally {
                    end();
                }
            }
            if (CONNECTION_SETTINGS.contains(name)) {
                Object result = call(physical, m, args);
                settings.put(settingKey(m, args), args);
                if (name.equals("setAutoCommit")) {
                    boolean on = (Boolean) args[0];
                    if (on && !autoCommit) {
                        end(); // switching auto-commit on commits the transaction
                    }
                    autoCommit = on;
                }
                return result;
            }
            if (name.equals("nativeSQL") || name.startsWith("get") || name.startsWith("is") || name.startsWith("create")
                    || name.equals("clearWarnings") || name.equals("beginRequest") || name.equals("endRequest")
                    || name.startsWith("setShardingKey")) {
                return call(physical, m, args);
            }
            // anything else that may talk to the server (savepoints, ...) is part of a transaction, when there is one
            if (!autoCommit) {
                begin();
            }
            return call(physical, m, args);
        }

        /** Executes one statement: in auto-commit, a transaction of its own. */
        Object execute(StatementHandle sh, Method m, Object[] args) throws Throwable {
            begin();
            try {
                return call(sh.current(), m, args);
            } finally {
                // in auto-commit each statement is a transaction, unless it opened one itself (BEGIN)
                if (autoCommit && !openTransaction(physical)) {
                    end();
                }
            }
        }

        private String settingKey(Method m, Object[] args) {
            // setClientInfo(name, value) per name; the others once each
            return m.getName().equals("setClientInfo") && args != null && args.length == 2
                    ? m.getName() + "\u0000" + args[0] : m.getName() + "/" + m.getParameterCount();
        }

        private Method settingMethod(String key) {
            String name = key.contains("\u0000") ? key.substring(0, key.indexOf('\u0000')) : key.substring(0,
                    key.indexOf('/'));
            int params = key.contains("\u0000") ? 2 : Integer.parseInt(key.substring(key.indexOf('/') + 1));
            for (Method m : Connection.class.getMethods()) {
                if (m.getName().equals(name) && m.getParameterCount() == params
                        && (params != 2 || !name.equals("setClientInfo") || m.getParameterTypes()[0] == String.class)) {
                    return m;
                }
            }
            throw new IllegalStateException("no Connection." + key);
        }
    }

    /** One statement handed out: prepared again, with its settings and parameters, on a new physical connection. */
    private static final class StatementHandle implements InvocationHandler {

        /**
         * One call of a setter, replayed on a statement prepared again. One that gave a stream or large object can be
         * given to one statement only: {@code used} once it was.
         */
        private static final class Call {
            final Method method;
            final Object[] args;
            final boolean stream;
            boolean used;

            Call(Method method, Object[] args, boolean used) {
                this.method = method;
                this.args = copies(args);
                this.stream = Arrays.stream(args).anyMatch(a -> a instanceof java.io.InputStream
                        || a instanceof java.io.Reader || a instanceof java.sql.Blob || a instanceof java.sql.Clob
                        || a instanceof java.sql.SQLXML || a instanceof java.sql.Array || a instanceof java.sql.Struct
                        || a instanceof java.sql.Ref);
                this.used = used;
            }

            Method method() {
                return method;
            }

            Object[] args() {
                return args;
            }
        }

        /** A batch entry: the SQL added ({@code Statement}) or the parameters at {@code addBatch()} (prepared). */
        private record BatchEntry(String sql, List<Call> parameters) {
        }

        private final Handle connection;
        private final Method creator;
        private final Object[] creatorArgs;
        /** Statement settings and parameter values by setter (and parameter index or name), replayed in order. */
        private final Map<String, Call> settings = new LinkedHashMap<>();
        private final List<BatchEntry> batch = new ArrayList<>();
        private Statement physical;
        private Connection owner;
        private boolean closed;

        StatementHandle(Handle connection, Method creator, Object[] creatorArgs, Statement physical, Connection owner) {
            this.connection = connection;
            this.creator = creator;
            this.creatorArgs = creatorArgs;
            this.physical = physical;
            this.owner = owner;
        }

        /**
         * The arguments of a setter as they are now: arrays, dates and calendars copied (an application may change
         * them before the statement runs again).
         */
        private static Object[] copies(Object[] args) {
            Object[] out = args.clone();
            for (int i = 0; i < out.length; i++) {
                Object a = out[i];
                if (a instanceof byte[] b) {
                    out[i] = b.clone();
                } else if (a instanceof java.util.Date d) {
                    out[i] = d.clone();
                } else if (a instanceof java.util.Calendar c) {
                    out[i] = c.clone();
                }
            }
            return out;
        }

        /** The physical statement on the connection's current physical connection, prepared again if need be. */
        Statement current() throws SQLException {
            if (owner != connection.physical) {
                for (Call c : settings.values()) {
                    requireReplayable(c);
                }
                for (BatchEntry entry : batch) {
                    for (Call c : entry.parameters()) {
                        requireReplayable(c);
                    }
                }
                Statement s = (Statement) call(connection.physical, creator, creatorArgs);
                try {
                    for (BatchEntry entry : batch) {
                        if (entry.sql() != null) {
                            s.addBatch(entry.sql());
                        } else {
                            for (Call c : entry.parameters()) {
                                call(s, c.method(), c.args());
                                c.used = true;
                            }
                            ((PreparedStatement) s).addBatch();
                        }
                    }
                    for (Call c : settings.values()) { // the settings, and the parameters set after the last addBatch
                        call(s, c.method(), c.args());
                        c.used = true;
                    }
                } catch (SQLException | RuntimeException e) {
                    s.close();
                    throw e;
                }
                physical = s;
                owner = connection.physical;
            }
            return physical;
        }

        private static void requireReplayable(Call c) throws SQLException {
            if (c.stream && c.used) {
                throw new SQLTransientConnectionException("this statement was prepared before traffic moved to"
                        + " the other server, and " + c.method().getName() + "(" + c.args()[0] + ", ...) gave it a"
                        + " stream or large object, which cannot be sent twice: set that parameter again", "08001");
            }
        }

        @Override
        public Object invoke(Object proxy, Method m, Object[] args) throws Throwable {
            String name = m.getName();
            switch (name) {
                case "equals":
                    return proxy == args[0];
                case "hashCode":
                    return System.identityHashCode(proxy);
                case "toString":
                    return String.valueOf(physical);
                case "getConnection":
                    return connection.self;
                case "isClosed":
                    return closed;
                case "close":
                    closed = true;
                    if (owner == connection.physical) {
                        physical.close();
                    }
                    return null;
                case "unwrap":
                    return ((Class<?>) args[0]).isInstance(proxy) ? proxy : current().unwrap((Class<?>) args[0]);
                case "isWrapperFor":
                    return ((Class<?>) args[0]).isInstance(proxy) || current().isWrapperFor((Class<?>) args[0]);
                default:
                    break;
            }
            if (closed) {
                throw new SQLException("statement closed", "HY010");
            }
            if (name.startsWith("execute")) {
                try {
                    return connection.execute(this, m, args);
                } finally {
                    if (name.equals("executeBatch") || name.equals("executeLargeBatch")) {
                        batch.clear();
                    }
                }
            }
            boolean recorded = (name.startsWith("set") && !name.equals("setCursorName"))
                    || name.equals("registerOutParameter") || name.equals("clearParameters")
                    || name.equals("addBatch") || name.equals("clearBatch");
            // On a statement whose connection moved, a setting is only recorded: the statement is prepared again,
            // with them all, when it runs (a stream set again now replaces one that could not be sent twice).
            boolean deferred = recorded && m.getReturnType() == void.class && owner != connection.physical;
            Object result = deferred ? null : call(current(), m, args);
            if ((name.startsWith("set") && !name.equals("setCursorName")) || name.equals("registerOutParameter")) {
                // a prepared or callable statement's parameter (by index or name), or a statement's own setting
                boolean parameter = m.getDeclaringClass() != Statement.class && m.getParameterCount() >= 2;
                String key = parameter ? (name.equals("registerOutParameter") ? "out " : "param ") + args[0]
                        : name + "/" + m.getParameterCount();
                settings.remove(key); // re-inserted last: replayed in the order last made
                settings.put(key, new Call(m, args, !deferred));
            } else if (name.equals("clearParameters")) {
                settings.keySet().removeIf(k -> k.startsWith("param "));
            } else if (name.equals("addBatch")) {
                if (args == null || args.length == 0) {
                    batch.add(new BatchEntry(null, settings.entrySet().stream().filter(e -> e.getKey().startsWith(
                            "param ")).map(Map.Entry::getValue).toList()));
                } else {
                    batch.add(new BatchEntry((String) args[0], List.of()));
                }
            } else if (name.equals("clearBatch")) {
                batch.clear();
            }
            return result;
        }
    }

    private static Object call(Object target, Method m, Object[] args) throws SQLException {
        try {
            return m.invoke(target, args);
        } catch (InvocationTargetException e) {
            Throwable cause = e.getCause();
            if (cause instanceof SQLException s) {
                throw s;
            }
            if (cause instanceof RuntimeException r) {
                throw r;
            }
            if (cause instanceof Error err) {
                throw err;
            }
            throw new SQLException(cause);
        } catch (IllegalAccessException e) {
            throw new IllegalStateException(e);
        }
    }

    private static final Method TRANSACTION_STATE = transactionState();

    /** pgjdbc's {@code BaseConnection.getTransactionState()}, if pgjdbc is there. */
    private static Method transactionState() {
        try {
            return Class.forName("org.postgresql.core.BaseConnection").getMethod("getTransactionState");
        } catch (ReflectiveOperationException | LinkageError e) {
            return null;
        }
    }

    /**
     * Whether the driver has a transaction open on {@code c} although it is in auto-commit (an explicit {@code BEGIN}):
     * asked of pgjdbc; other drivers are taken to have none.
     */
    private static boolean openTransaction(Connection c) {
        if (TRANSACTION_STATE == null) {
            return false;
        }
        try {
            Class<?> base = TRANSACTION_STATE.getDeclaringClass();
            if (!c.isWrapperFor(base)) {
                return false;
            }
            return !"IDLE".equals(String.valueOf(TRANSACTION_STATE.invoke(c.unwrap(base))));
        } catch (SQLException | ReflectiveOperationException | RuntimeException e) {
            return false;
        }
    }

    private static void closeQuietly(Connection c) {
        try {
            c.close();
        } catch (SQLException | RuntimeException ignored) {
            // the old side's connection is done with; the server may have ended it already
        }
    }

    /** Builds a {@link HoldingDataSource}. */
    public static final class Builder {
        private final DataSource source;
        private final DataSource target;
        private Side initial;
        private final List<String> initSql = new ArrayList<>();
        private Duration drainTimeout = Duration.ofSeconds(5);
        private Duration maxWait = Duration.ofSeconds(30);

        private Builder(DataSource source, DataSource target) {
            this.source = Objects.requireNonNull(source, "source DataSource");
            this.target = Objects.requireNonNull(target, "target DataSource");
            if (source == target) {
                throw new IllegalArgumentException("the source and the target need a DataSource each");
            }
        }

        /**
         * SQL run on every physical connection it opens, the first and each one that replaces another after a
         * switch: session settings made with SQL ({@code SET search_path}, {@code SET ROLE}, ...) are otherwise lost
         * when a connection moves. A pool's own init SQL runs only once per pooled connection, so put it here.
         *
         * @param sql the statements, run in order
         * @return this builder
         */
        public Builder initSql(String... sql) {
            for (String s : sql) {
                initSql.add(Objects.requireNonNull(s, "initSql"));
            }
            return this;
        }

        /**
         * The side connections go to at first: required. {@link Side#SOURCE} before the cutover, {@link Side#TARGET}
         * for an application started after it (also after {@code complete()}, when the source is writable again).
         *
         * @param side the side
         * @return this builder
         */
        public Builder initial(Side side) {
            this.initial = Objects.requireNonNull(side, "side");
            return this;
        }

        /**
         * How long a hold waits for the transactions in flight to end before it gives up and the cutover is abandoned.
         * Default 5 s; every request made meanwhile waits too, so keep it short.
         *
         * @param timeout the limit, positive
         * @return this builder
         */
        public Builder drainTimeout(Duration timeout) {
            this.drainTimeout = positive(timeout, "drainTimeout");
            return this;
        }

        /**
         * The longest a request waits while held before it fails (a cutover that died holding, for instance). Default
         * 30 s.
         *
         * @param timeout the limit, positive
         * @return this builder
         */
        public Builder maxWait(Duration timeout) {
            this.maxWait = positive(timeout, "maxWait");
            return this;
        }

        /**
         * Builds the data source; it connects to nothing until asked for a connection.
         *
         * @return the data source
         */
        public HoldingDataSource build() {
            return new HoldingDataSource(this);
        }

        private static Duration positive(Duration d, String what) {
            if (d == null || d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException(what + " must be positive: " + d);
            }
            return d;
        }
    }
}
