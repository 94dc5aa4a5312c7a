package io.pgmigrate.pacemaker;

import io.pgmigrate.testkit.Pacer;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Application threads writing through the VIP: each commit inserts {@code (writer, seq)}; a commit whose outcome the
 * client did not learn is retried with the same {@code seq}, and a unique violation then means it had committed. Every
 * commit a client saw is remembered, to be looked for on the side that ends up with the traffic. Each writer commits
 * at most {@link #RATE} times a second, a load the stream absorbs on any machine.
 */
final class VipWriters implements AutoCloseable {

    static final int RATE = 50;

    static final String TABLE = "CREATE TABLE ledger (writer integer, seq bigint, at timestamptz DEFAULT now(),"
            + " PRIMARY KEY (writer, seq))";

    private final AtomicBoolean running = new AtomicBoolean(true);
    private final List<Thread> threads = new ArrayList<>();
    private final Set<Long> confirmed = new HashSet<>();
    private final AtomicLong commits = new AtomicLong();
    private final List<Throwable> unexpected = new ArrayList<>();

    VipWriters(String url, int count) {
        for (int w = 0; w < count; w++) {
            int writer = w;
            Thread t = new Thread(() -> run(url, writer), "vip-writer-" + w);
            threads.add(t);
            t.start();
        }
    }

    static Connection connect(String url) throws SQLException {
        Properties p = new Properties();
        p.setProperty("connectTimeout", "2");
        p.setProperty("socketTimeout", "10");
        return DriverManager.getConnection(url, p);
    }

    private void run(String url, int writer) {
        long seq = 1;
        Connection c = null;
        Pacer pacer = Pacer.perSecond(RATE);
        while (running.get()) {
            try {
                pacer.await();
                if (c == null) {
                    c = connect(url);
                }
                try (PreparedStatement ins = c.prepareStatement("INSERT INTO ledger (writer, seq) VALUES (?, ?)")) {
                    ins.setInt(1, writer);
                    ins.setLong(2, seq);
                    ins.executeUpdate();
                }
                committed(writer, seq++);
            } catch (SQLException e) {
                if ("23505".equals(e.getSQLState())) {
                    committed(writer, seq++);
                } else if (!"25006".equals(e.getSQLState()) && !connectionProblem(e)) {
                    synchronized (unexpected) {
                        unexpected.add(e);
                    }
                }
                close(c);
                c = null;
                pause();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break; // the connection is closed below
            }
        }
        close(c);
    }

    private static boolean connectionProblem(SQLException e) {
        String s = e.getSQLState();
        return s == null || s.startsWith("08") || s.startsWith("57P");
    }

    private void committed(int writer, long seq) {
        synchronized (confirmed) {
            confirmed.add(((long) writer << 40) | seq);
        }
        commits.incrementAndGet();
    }

    long commits() {
        return commits.get();
    }

    /** Waits until {@code n} more commits than now went through. */
    void awaitMoreCommits(long n) throws InterruptedException {
        long goal = commits.get() + n;
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (commits.get() < goal) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("writers stalled at " + commits.get() + " commits");
            }
            Thread.sleep(20);
        }
    }

    Set<Long> confirmed() {
        synchronized (confirmed) {
            return new HashSet<>(confirmed);
        }
    }

    static Set<Long> keys(String url) throws SQLException {
        Set<Long> out = new HashSet<>();
        try (Connection c = connect(url); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery("SELECT writer, seq FROM ledger")) {
            while (rs.next()) {
                out.add(((long) rs.getInt(1) << 40) | rs.getLong(2));
            }
        }
        return out;
    }

    static String text(String url, String sql) throws SQLException {
        try (Connection c = connect(url); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getString(1);
        }
    }

    private static void close(Connection c) {
        try {
            if (c != null) {
                c.close();
            }
        } catch (SQLException ignored) {
            // gone anyway
        }
    }

    private static void pause() {
        try {
            Thread.sleep(50);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() throws InterruptedException {
        running.set(false);
        for (Thread t : threads) {
            t.join(30_000);
        }
        synchronized (unexpected) {
            if (!unexpected.isEmpty()) {
                AssertionError e = new AssertionError("a writer saw an unexpected error");
                unexpected.forEach(e::addSuppressed);
                throw e;
            }
        }
    }
}
