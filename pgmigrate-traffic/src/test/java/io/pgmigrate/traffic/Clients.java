package io.pgmigrate.traffic;

import io.pgmigrate.testkit.Pacer;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAccumulator;
import java.util.function.BooleanSupplier;

/**
 * Application clients for the traffic tests: each commits transfers at a bounded rate (a row in {@code transfers}, the
 * account's balance updated, the server's port read) through connections it gets from {@code connections}, and records
 * every failure, every commit per server port and the slowest transaction.
 */
final class Clients implements AutoCloseable {

    interface ConnectionSource {
        Connection get() throws SQLException;
    }

    static final String SCHEMA = """
            CREATE TABLE accounts (id integer PRIMARY KEY, balance bigint NOT NULL);
            INSERT INTO accounts SELECT g, 0 FROM generate_series(1, 50) g;
            CREATE TABLE transfers (id bigserial PRIMARY KEY, client integer NOT NULL, seq integer NOT NULL,
                account integer NOT NULL REFERENCES accounts, amount integer NOT NULL,
                at timestamptz NOT NULL DEFAULT now(), UNIQUE (client, seq));
            """;

    private final List<Thread> threads = new ArrayList<>();
    private final List<String> failures = new CopyOnWriteArrayList<>();
    private final Map<Integer, AtomicLong> commitsByPort = new ConcurrentHashMap<>();
    private final AtomicLong commits = new AtomicLong();
    private final AtomicLong amounts = new AtomicLong();
    private final LongAccumulator slowestNanos = new LongAccumulator(Math::max, 0);
    private volatile boolean stop;

    /**
     * Starts {@code n} clients. With {@code keep} each keeps its connection (an application behind PgBouncer); without,
     * each transaction borrows one and closes it (an application using a pool).
     */
    Clients(int n, int perSecond, boolean keep, ConnectionSource connections) {
        for (int i = 0; i < n; i++) {
            int client = i;
            Thread t = new Thread(() -> run(client, perSecond, keep, connections), "client-" + i);
            t.setDaemon(true);
            threads.add(t);
            t.start();
        }
    }

    private void run(int client, int perSecond, boolean keep, ConnectionSource connections) {
        Pacer pacer = Pacer.perSecond(perSecond);
        Connection kept = null;
        int seq = 0;
        while (!stop) {
            try {
                pacer.await();
            } catch (InterruptedException e) {
                return;
            }
            long start = System.nanoTime();
            int amount = 1 + (seq % 97);
            int account = 1 + ((client * 7 + seq) % 50);
            try {
                Connection c = kept != null ? kept : connections.get();
                try {
                    c.setAutoCommit(false);
                    try (PreparedStatement ins = c.prepareStatement(
                            "INSERT INTO transfers (client, seq, account, amount) VALUES (?, ?, ?, ?)");
                         PreparedStatement upd = c.prepareStatement(
                                 "UPDATE accounts SET balance = balance + ? WHERE id = ?");
                         PreparedStatement port = c.prepareStatement("SELECT inet_server_port()")) {
                        ins.setInt(1, client);
                        ins.setInt(2, seq);
                        ins.setInt(3, account);
                        ins.setInt(4, amount);
                        ins.executeUpdate();
                        upd.setInt(1, amount);
                        upd.setInt(2, account);
                        upd.executeUpdate();
                        int p;
                        try (ResultSet rs = port.executeQuery()) {
                            rs.next();
                            p = rs.getInt(1);
                        }
                        c.commit();
                        seq++;
                        commits.incrementAndGet();
                        amounts.addAndGet(amount);
                        commitsByPort.computeIfAbsent(p, x -> new AtomicLong()).incrementAndGet();
                    }
                } finally {
                    if (keep) {
                        kept = c;
                    } else {
                        c.close();
                    }
                }
            } catch (SQLException | RuntimeException e) {
                failures.add("client " + client + " transfer " + seq + ": " + e);
                if (kept != null) {
                    try {
                        kept.close();
                    } catch (SQLException ignored) {
                        // reconnecting next time
                    }
                    kept = null;
                }
            } finally {
                slowestNanos.accumulate(System.nanoTime() - start);
            }
        }
        if (kept != null) {
            try {
                kept.close();
            } catch (SQLException ignored) {
                // done
            }
        }
    }

    long commits() {
        return commits.get();
    }

    long amounts() {
        return amounts.get();
    }

    long commitsOn(int port) {
        AtomicLong n = commitsByPort.get(port);
        return n == null ? 0 : n.get();
    }

    List<String> failures() {
        return List.copyOf(failures);
    }

    Duration slowest() {
        return Duration.ofNanos(slowestNanos.get());
    }

    /** Waits until {@code n} more transactions committed on the server at {@code port}. */
    void awaitCommits(int port, long n) throws InterruptedException {
        long goal = commitsOn(port) + n;
        await(() -> commitsOn(port) >= goal || !failures.isEmpty(), "commits on port " + port);
    }

    static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(10); // polling a condition, not waiting for time to pass
        }
    }

    /** Stops the clients and waits for their last transactions to end. */
    void stop() {
        stop = true;
        try {
            for (Thread t : threads) {
                t.join(Duration.ofMinutes(2).toMillis());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void close() {
        stop();
    }
}
