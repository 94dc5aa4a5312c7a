package io.pgmigrate.core.it;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A TCP listener on 127.0.0.1 that counts the connections it accepts and then stays silent, closes them at once, or
 * forwards them to a real server: how a test sees how often a client tried. A forwarding stub can turn into a black
 * hole, as a silent network partition does: open connections stay open, but nothing more gets through either way.
 */
final class TcpStub implements AutoCloseable {

    enum Behaviour { SILENT, CLOSE, FORWARD }

    private final ServerSocket listener;
    private final Behaviour behaviour;
    private final InetSocketAddress forwardTo;
    private final AtomicInteger accepted = new AtomicInteger();
    private final List<Socket> open = new CopyOnWriteArrayList<>();
    private final Thread acceptor;
    private volatile boolean blackHole;
    private final java.util.Set<Socket> frozen = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private TcpStub(Behaviour behaviour, InetSocketAddress forwardTo) throws IOException {
        this.behaviour = behaviour;
        this.forwardTo = forwardTo;
        this.listener = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
        this.acceptor = new Thread(this::acceptLoop, "tcp-stub-" + behaviour);
        acceptor.setDaemon(true);
        acceptor.start();
    }

    /** Accepts and never sends a byte. */
    static TcpStub silent() throws IOException {
        return new TcpStub(Behaviour.SILENT, null);
    }

    /** Accepts and closes the connection at once. */
    static TcpStub closing() throws IOException {
        return new TcpStub(Behaviour.CLOSE, null);
    }

    /** Accepts and forwards every byte both ways to {@code host:port}. */
    static TcpStub forwarding(String host, int port) throws IOException {
        return new TcpStub(Behaviour.FORWARD, new InetSocketAddress(host, port));
    }

    /** {@code server}'s superuser endpoint, reached through this stub. */
    io.pgmigrate.Endpoint endpointFor(io.pgmigrate.testkit.PostgresServer server) {
        io.pgmigrate.Endpoint e = io.pgmigrate.Endpoint.of("jdbc:postgresql://127.0.0.1:" + port() + "/")
                .user(server.superuser());
        return server.endpoint().password().map(e::password).orElse(e);
    }

    int port() {
        return listener.getLocalPort();
    }

    /** From now on every byte is dropped, on open connections and new ones; nothing is closed. */
    void blackHole() {
        blackHole = true;
    }

    /**
     * The connections open now go silent (every byte dropped, nothing closed), as one client's half-open sockets do
     * behind a broken path; new connections are forwarded as before.
     */
    void freezeOpenConnections() {
        frozen.addAll(open);
    }

    /** Closes the connections {@link #freezeOpenConnections()} froze: their client sees the connection break. */
    void breakFrozen() {
        frozen.forEach(TcpStub::closeQuietly);
    }

    /** Connections accepted so far. */
    int accepted() {
        return accepted.get();
    }

    private void acceptLoop() {
        while (!listener.isClosed()) {
            Socket client;
            try {
                client = listener.accept();
            } catch (IOException e) {
                return;
            }
            accepted.incrementAndGet();
            switch (blackHole ? Behaviour.SILENT : behaviour) {
                case SILENT -> open.add(client);
                case CLOSE -> closeQuietly(client);
                case FORWARD -> forward(client);
            }
        }
    }

    private void forward(Socket client) {
        try {
            Socket server = new Socket();
            server.connect(forwardTo, 5_000);
            open.add(client);
            open.add(server);
            pump(client, server);
            pump(server, client);
        } catch (IOException e) {
            closeQuietly(client);
        }
    }

    private void pump(Socket from, Socket to) {
        Thread t = new Thread(() -> {
            byte[] buffer = new byte[8192];
            try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                int n;
                while ((n = in.read(buffer)) >= 0) {
                    if (!blackHole && !frozen.contains(from) && !frozen.contains(to)) {
                        out.write(buffer, 0, n);
                        out.flush();
                    }
                }
            } catch (IOException e) {
                // one side went away
            } finally {
                closeQuietly(from);
                closeQuietly(to);
            }
        }, "tcp-stub-pump");
        t.setDaemon(true);
        t.start();
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException e) {
            // closing anyway
        }
    }

    @Override
    public void close() throws IOException {
        listener.close();
        open.forEach(TcpStub::closeQuietly);
        try {
            acceptor.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
