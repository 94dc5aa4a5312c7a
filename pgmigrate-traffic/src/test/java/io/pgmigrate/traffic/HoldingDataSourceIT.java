package io.pgmigrate.traffic;

import com.zaxxer.hikari.HikariConfig;
import com.zaxxer.hikari.HikariDataSource;
import io.pgmigrate.CutoverReport;
import io.pgmigrate.Migration;
import io.pgmigrate.Side;
import io.pgmigrate.TrafficSwitch;
import io.pgmigrate.testkit.PostgresPair;
import io.pgmigrate.testkit.PostgresServer;
import io.pgmigrate.testkit.Source;
import io.pgmigrate.testkit.Target;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.postgresql.ds.PGSimpleDataSource;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A Java application with a HikariCP pool over the holding {@code DataSource} sees no failed request across a cutover
 * and a rollback: its transactions wait through the window and go on, on connections to the new side.
 */
@PostgresPair(source = 14, target = 18)
class HoldingDataSourceIT {

    @Test
    void aHikariPoolOverTheHoldingDataSourceSeesNoFailedRequestAcrossCutoverAndRollback(@Source PostgresServer source,
            @Target PostgresServer target, @TempDir Path dir) throws Exception {
        String db = "holding_shop";
        source.createDatabase(db);
        source.execute(db, Clients.SCHEMA);
        HoldingDataSource holding = HoldingDataSource.builder(dataSource(source, db), dataSource(target, db))
                .initial(Side.SOURCE).build();
        HikariConfig config = new HikariConfig();
        config.setDataSource(holding);
        config.setMaximumPoolSize(6);
        config.setPoolName("application");
        Probe probe = new Probe(holding);
        try (HikariDataSource pool = new HikariDataSource(config);
             Migration m = Migration.builder().name("holding").source(source.endpoint()).target(target.endpoint())
                     .databases(db).stateDirectory(dir.resolve("state")).trafficSwitch(probe).build()) {
            probe.pool = pool;
            m.start();
            m.awaitInSync(Duration.ofMinutes(2));
            // a connection the application keeps, with its own settings and a prepared statement
            try (Connection kept = holding.getConnection();
                 Clients clients = new Clients(4, 40, false, pool::getConnection)) {
                kept.setAutoCommit(false);
                kept.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE);
                PreparedStatement insert = kept.prepareStatement(
                        "INSERT INTO transfers (client, seq, account, amount) VALUES (200, ?, ?, 3)");
                insert.setInt(2, 4);
                insert.setInt(1, 0);
                insert.executeUpdate();
                assertThat(port(kept)).isEqualTo(source.port());
                kept.commit();
                clients.awaitCommits(source.port(), 40);

                CutoverReport cutover = m.cutover();
                assertThat(cutover.succeeded()).as(cutover.toString()).isTrue();
                probe.assertHeldRequestWentTo(target.port());
                clients.awaitCommits(target.port(), 40);
                // the kept connection moved at its next transaction, its settings and statement with it
                insert.setInt(1, 1); // the other parameter was set before the cutover
                insert.executeUpdate();
                assertThat(port(kept)).isEqualTo(target.port());
                assertThat(text(kept, "SHOW transaction_isolation")).isEqualTo("serializable");
                kept.commit();

                CutoverReport rollback = m.rollback();
                assertThat(rollback.succeeded()).as(rollback.toString()).isTrue();
                probe.assertHeldRequestWentTo(source.port());
                clients.awaitCommits(source.port(), 40);
                clients.stop();

                assertThat(clients.failures()).as("requests that failed").isEmpty();
                System.out.printf("holding DataSource: slowest client transaction %d ms; cutover window %d ms, held"
                                + " request waited %d ms; rollback window %d ms, hold %d ms%n",
                        clients.slowest().toMillis(), cutover.writeUnavailable().toMillis(), probe.heldWait.toMillis(),
                        rollback.writeUnavailable().toMillis(), holding.lastHold().orElseThrow().toMillis());
                long committed = clients.commits() + probe.inFlightCommits + 2;
                assertThat(PgBouncerSwitchIT.count(source, db, "SELECT count(*) FROM transfers")).isEqualTo(committed);
                assertThat(PgBouncerSwitchIT.count(source, db, "SELECT count(*) FROM transfers WHERE client = 200"
                        + " AND account = 4")).isEqualTo(2);
                assertThat(PgBouncerSwitchIT.count(source, db, "SELECT sum(balance) FROM accounts")).isEqualTo(
                        clients.amounts() + probe.inFlightAmounts);
            }
            m.complete();
        }
    }

    @Test
    void aConnectionMovesAtItsNextTransactionWithItsSettingsAndStatementsAndNeverSplitsOne(
            @Source PostgresServer source, @Target PostgresServer target) throws Exception {
        String db = "holding_moves";
        for (PostgresServer server : new PostgresServer[] {source, target}) {
            server.createDatabase(db);
            server.execute(db, "CREATE TABLE notes (id integer PRIMARY KEY, body bytea, note text)");
        }
        HoldingDataSource holding = HoldingDataSource.builder(dataSource(source, db), dataSource(target, db))
                .initial(Side.SOURCE).initSql("SET application_name = 'moved-app'").build();
        try (Connection c = holding.getConnection()) {
            PreparedStatement insert = c.prepareStatement("INSERT INTO notes (id, body) VALUES (?, ?)");
            byte[] body = {1, 2, 3};
            insert.setInt(1, 1);
            insert.setBytes(2, body);
            insert.addBatch();
            body[0] = 9; // the application reuses its buffer: the row added keeps what it had
            insert.setInt(1, 2);
            insert.setBytes(2, body);
            insert.addBatch();

            // a transaction opened with BEGIN in auto-commit is in flight too: the hold waits for it
            Statement s = c.createStatement();
            s.execute("BEGIN");
            s.execute("INSERT INTO notes (id) VALUES (100)");
            CompletableFuture<Void> hold = CompletableFuture.runAsync(() -> holding.hold(Side.SOURCE));
            Clients.await(holding::holding, "the hold");
            assertThat(hold).as("the hold waits for the open transaction").isNotDone();
            s.execute("INSERT INTO notes (id) VALUES (101)"); // still on the source, in the same transaction
            s.execute("COMMIT");
            hold.get(1, TimeUnit.MINUTES);
            holding.switchTo(Side.TARGET);
            holding.release(Side.TARGET);

            insert.executeBatch(); // prepared again on the target, with its batch
            assertThat(port(c)).isEqualTo(target.port());
            assertThat(text(c, "SELECT current_setting('application_name')")).isEqualTo("moved-app");
            assertThat(PgBouncerSwitchIT.count(source, db, "SELECT count(*) FROM notes WHERE id IN (100, 101)"))
                    .isEqualTo(2);
            try (Connection t = target.connect(db)) {
                assertThat(text(t, "SELECT string_agg(id || ':' || encode(body, 'hex'), ',' ORDER BY id) FROM notes"))
                        .isEqualTo("1:010203,2:090203");
            }

            // a stream can be sent once: after a move the statement asks for it again instead of sending nothing
            PreparedStatement note = c.prepareStatement("UPDATE notes SET note = ? WHERE id = 1");
            note.setCharacterStream(1, new java.io.StringReader("first"));
            assertThat(note.executeUpdate()).isEqualTo(1);
            holding.hold(Side.TARGET);
            holding.switchTo(Side.SOURCE);
            holding.release(Side.SOURCE);
            assertThatThrownBy(note::executeUpdate).isInstanceOf(java.sql.SQLTransientConnectionException.class)
                    .hasMessageContaining("set that parameter again");
            note.setCharacterStream(1, new java.io.StringReader("second"));
            assertThat(note.executeUpdate()).as("no row 1 on the source").isZero();
            assertThat(port(c)).isEqualTo(source.port());
        }
    }

    private static PGSimpleDataSource dataSource(PostgresServer server, String db) {
        PGSimpleDataSource ds = new PGSimpleDataSource();
        ds.setServerNames(new String[] {server.host()});
        ds.setPortNumbers(new int[] {server.port()});
        ds.setDatabaseName(db);
        ds.setUser(server.superuser());
        server.endpoint().password().ifPresent(ds::setPassword);
        return ds;
    }

    static int port(Connection c) throws SQLException {
        return Integer.parseInt(text(c, "SELECT inet_server_port()"));
    }

    static String text(Connection c, String sql) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    /**
     * The switch under test, watched: when it holds, a transaction through the pool is still open (the hold must let
     * it commit), and a request made while held must wait and then reach the new side.
     */
    static final class Probe implements TrafficSwitch {
        private final HoldingDataSource delegate;
        HikariDataSource pool;
        private CompletableFuture<Integer> held;
        volatile Duration heldWait = Duration.ZERO;
        long inFlightCommits;
        long inFlightAmounts;
        private int seq;

        Probe(HoldingDataSource delegate) {
            this.delegate = delegate;
        }

        @Override
        public void hold(Side side) {
            try {
                Connection open = pool.getConnection();
                open.setAutoCommit(false);
                try (Statement s = open.createStatement()) {
                    s.execute("INSERT INTO transfers (client, seq, account, amount) VALUES (100, " + seq++ + ", 2, 7)");
                    s.execute("UPDATE accounts SET balance = balance + 7 WHERE id = 2");
                }
                CompletableFuture<Void> holding = CompletableFuture.runAsync(() -> delegate.hold(side));
                Clients.await(delegate::holding, "the hold");
                long start = System.nanoTime();
                java.util.concurrent.atomic.AtomicReference<Thread> asking = new java.util.concurrent.atomic.AtomicReference<>();
                held = CompletableFuture.supplyAsync(() -> {
                    asking.set(Thread.currentThread());
                    try (Connection c = pool.getConnection()) {
                        int p = port(c);
                        heldWait = Duration.ofNanos(System.nanoTime() - start);
                        return p;
                    } catch (SQLException e) {
                        throw new IllegalStateException(e);
                    }
                });
                // this very request waiting inside the data source, not any (the writers wait too)
                Clients.await(() -> held.isDone() || heldInside(asking.get()), "the request to be held");
                assertThat(holding).as("the hold waits for the transaction in flight").isNotDone();
                open.commit();
                open.close();
                holding.get(1, TimeUnit.MINUTES);
                inFlightCommits++;
                inFlightAmounts += 7;
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }

        private static boolean heldInside(Thread t) {
            return t != null && (t.getState() == Thread.State.WAITING || t.getState() == Thread.State.TIMED_WAITING)
                    && java.util.Arrays.stream(t.getStackTrace())
                    .anyMatch(f -> f.getClassName().startsWith(HoldingDataSource.class.getName()));
        }

        @Override
        public void switchTo(Side side) {
            delegate.switchTo(side);
        }

        @Override
        public void release(Side side) {
            assertThat(held).as("a request made while held is still waiting").isNotDone();
            delegate.release(side);
        }

        void assertHeldRequestWentTo(int port) throws Exception {
            assertThat(held.get(1, TimeUnit.MINUTES)).as("the held request's server").isEqualTo(port);
        }

        @Override
        public String description() {
            return delegate.description();
        }
    }
}
