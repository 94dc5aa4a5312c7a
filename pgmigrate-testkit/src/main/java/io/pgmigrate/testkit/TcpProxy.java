package io.pgmigrate.testkit;

import io.pgmigrate.Side;
import io.pgmigrate.TrafficSwitch;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A loopback TCP proxy that forwards each client connection to the server of the active side. Switching closes every
 * connection to the old side, so clients such as pgjdbc pools reconnect and land on the new side; it is meant for
 * integration tests and demos on one host, not as a production load balancer.
 */
public final class TcpProxy implements TrafficSwitch, AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(TcpProxy.class);

    private static final int BUFFER_BYTES = 64 * 1024;
    private static final int BACKLOG = 128;
    /** Bounds how long a client waits on a backend that neither accepts nor refuses. */
    private static final int CONNECT_TIMEOUT_MILLIS = 10_000;
    /** How long close waits for the accept thread, which leaves within microseconds once the listener is closed. */
    private static final long ACCEPTOR_EXIT_MILLIS = 5_000;

    private final ServerSocket server;
    private final InetSocketAddress source;
    private final InetSocketAddress target;
    private final ExecutorService pumps;
    private final Thread acceptor;
    private final AtomicLong accepted = new AtomicLong();

    private final Object lock = new Object();
    // Guarded by lock: a connection takes its side from `active` and joins `links` in one step, which is what lets
    // switchTo promise that nothing reaches the old side once it returns.
    private Side active;
    private final Set<Link> links = new LinkedHashSet<>();
    private boolean closed;

    private TcpProxy(ServerSocket server, InetSocketAddress source, InetSocketAddress target, Side initial) {
        this.server = server;
        this.source = source;
        this.target = target;
        this.active = initial;
        AtomicInteger threads = new AtomicInteger();
        this.pumps = Executors.newCachedThreadPool(task -> {
            Thread thread = new Thread(task, "pgmigrate-proxy-pump-" + threads.incrementAndGet());
            thread.setDaemon(true);
            return thread;
        });
        this.acceptor = new Thread(this::acceptLoop, "pgmigrate-proxy-accept");
        this.acceptor.setDaemon(true);
    }

    /**
     * Starts a proxy on a free loopback port that forwards to {@code initial}'s address.
     *
     * @throws UncheckedIOException if no port could be bound
     */
    public static TcpProxy start(InetSocketAddress source, InetSocketAddress target, Side initial) {
        return start(source, target, initial, 0);
    }

    /**
     * Starts a proxy on loopback port {@code port} (0 for a free one) that forwards to {@code initial}'s address.
     *
     * @throws UncheckedIOException if the port could not be bound
     */
    public static TcpProxy start(InetSocketAddress source, InetSocketAddress target, Side initial, int port) {
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(target, "target");
        Objects.requireNonNull(initial, "initial");
        if (port < 0 || port > 65_535) {
            throw new IllegalArgumentException("port is " + port + "; it must be 0 (any free port) to 65535");
        }
        ServerSocket server;
        try {
            server = new ServerSocket();
            // Lets a test or demo restart on a fixed port while old connections sit in TIME_WAIT.
            server.setReuseAddress(true);
            server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), BACKLOG);
        } catch (IOException e) {
            throw new UncheckedIOException("tcp proxy could not listen on loopback port " + port, e);
        }
        TcpProxy proxy = new TcpProxy(server, source, target, initial);
        proxy.acceptor.start();
        LOG.info("{} started, forwarding to {} ({})", proxy.description(), initial, proxy.addressOf(initial));
        return proxy;
    }

    /** The port clients connect to. */
    public int port() {
        return server.getLocalPort();
    }

    /** The address clients connect to, {@code 127.0.0.1} unless the JVM prefers IPv6. */
    public String host() {
        return server.getInetAddress().getHostAddress();
    }

    /** The side new connections are forwarded to. */
    public Side active() {
        synchronized (lock) {
            return active;
        }
    }

    /** Connections currently joined to a backend, counting those whose backend connect is still in progress. */
    public int openConnections() {
        synchronized (lock) {
            return links.size();
        }
    }

    /** Client connections accepted since start, including those closed since. */
    public long connectionsAccepted() {
        return accepted.get();
    }

    /**
     * Forwards new connections to {@code side} and closes every connection to the other side before returning, so
     * no client keeps talking to the old side. Does nothing when {@code side} is already active.
     *
     * @throws IllegalStateException if the proxy is closed
     */
    @Override
    public void switchTo(Side side) {
        Objects.requireNonNull(side, "side");
        Side from;
        List<Link> dropped = new ArrayList<>();
        synchronized (lock) {
            if (closed) {
                throw new IllegalStateException(description() + " is closed; it cannot switch to " + side);
            }
            from = active;
            active = side;
            if (from != side) {
                for (Iterator<Link> it = links.iterator(); it.hasNext(); ) {
                    Link link = it.next();
                    if (link.side != side) {
                        dropped.add(link);
                        it.remove();
                    }
                }
            }
        }
        if (from == side) {
            LOG.debug("{} already forwards to {}", description(), side);
            return;
        }
        // Closing is outside the lock so new connections are not held up; it still happens before we return.
        dropped.forEach(Link::close);
        LOG.info("{} switched from {} to {}, closed {} connections", description(), from, side, dropped.size());
    }

    /** Names the proxy by its listen address, such as {@code tcp proxy 127.0.0.1:54321}. */
    @Override
    public String description() {
        return "tcp proxy " + host() + ":" + port();
    }

    /** Stops accepting and closes every connection; calling it again does nothing. */
    @Override
    public void close() {
        List<Link> dropped;
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            dropped = List.copyOf(links);
            links.clear();
        }
        closeQuietly(server);
        awaitAcceptorExit();
        dropped.forEach(Link::close);
        pumps.shutdown();
        LOG.info("{} closed, closed {} connections", description(), dropped.size());
    }

    @Override
    public String toString() {
        return description();
    }

    private void acceptLoop() {
        while (true) {
            Socket client;
            try {
                client = server.accept();
            } catch (IOException e) {
                if (isClosed() || server.isClosed()) {
                    return;
                }
                LOG.warn("{} could not accept a connection: {}", description(), e.toString());
                // Out of file descriptors and the like: do not spin while it lasts.
                java.util.concurrent.locks.LockSupport.parkNanos(50_000_000L);
                continue;
            }
            accepted.incrementAndGet();
            try {
                // Joined on a pool thread so a slow backend connect never holds up other clients.
                pumps.execute(() -> join(client));
            } catch (RejectedExecutionException e) {
                closeQuietly(client);
            }
        }
    }

    private void join(Socket client) {
        Link link;
        synchronized (lock) {
            if (closed) {
                closeQuietly(client);
                return;
            }
            // Registered before connecting, so a switch during the connect closes the half-made backend socket too.
            link = new Link(client, active);
            links.add(link);
        }
        InetSocketAddress address = addressOf(link.side);
        try {
            client.setTcpNoDelay(true);
            link.backend.setTcpNoDelay(true);
            link.backend.connect(address, CONNECT_TIMEOUT_MILLIS);
        } catch (IOException e) {
            if (!link.isClosed()) {
                // The client sees its connection close and retries, as it would against the server itself.
                LOG.debug("{}: {} at {} did not accept a connection from {}, closing the client: {}",
                        description(), link.side, address, client.getRemoteSocketAddress(), e.toString());
            }
            link.close();
            return;
        }
        boolean stale;
        synchronized (lock) {
            stale = closed || active != link.side || !links.contains(link);
        }
        if (stale) {
            link.close();
            return;
        }
        try {
            pumps.execute(() -> pump(link, link.backend, link.client));
        } catch (RejectedExecutionException e) {
            link.close();
            return;
        }
        pump(link, link.client, link.backend);
    }

    private static void pump(Link link, Socket from, Socket to) {
        byte[] buffer = new byte[BUFFER_BYTES];
        try {
            InputStream in = from.getInputStream();
            OutputStream out = to.getOutputStream();
            for (int n; (n = in.read(buffer)) != -1; ) {
                out.write(buffer, 0, n);
            }
            // Only the write side is shut: the peer may still owe a reply in the other direction.
            to.shutdownOutput();
            link.directionDone();
        } catch (IOException e) {
            link.close();
        }
    }

    // Closing a listener that a thread is blocked on only marks it closed; the kernel keeps accepting until that
    // thread's accept call returns. Waiting for the thread is what makes close() mean "refuses connections now".
    private void awaitAcceptorExit() {
        try {
            acceptor.join(ACCEPTOR_EXIT_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        if (acceptor.isAlive()) {
            LOG.warn("{}: the accept thread did not stop within {} ms", description(), ACCEPTOR_EXIT_MILLIS);
        }
    }

    private InetSocketAddress addressOf(Side side) {
        return side == Side.SOURCE ? source : target;
    }

    private boolean isClosed() {
        synchronized (lock) {
            return closed;
        }
    }

    private void unregister(Link link) {
        synchronized (lock) {
            links.remove(link);
        }
    }

    private static void closeQuietly(Closeable closeable) {
        try {
            closeable.close();
        } catch (IOException ignored) {
            // Nothing left to do with a socket that fails to close.
        }
    }

    /** One client connection and its backend connection to one side. */
    private final class Link {

        final Socket client;
        final Socket backend = new Socket();
        final Side side;
        private final AtomicInteger openDirections = new AtomicInteger(2);
        private boolean closed;

        Link(Socket client, Side side) {
            this.client = client;
            this.side = side;
        }

        void directionDone() {
            if (openDirections.decrementAndGet() == 0) {
                close();
            }
        }

        synchronized boolean isClosed() {
            return closed;
        }

        // Synchronized so that a second caller, such as switchTo racing a pump, returns only once both sockets are
        // closed.
        synchronized void close() {
            if (closed) {
                return;
            }
            closed = true;
            unregister(this);
            disconnect(client);
            disconnect(backend);
        }

        // close() alone defers the FIN while a pump thread is blocked reading the socket; shutting down output first
        // sends it at once, so the peer sees the end before switchTo or close returns.
        private void disconnect(Socket socket) {
            if (socket.isConnected()) {
                try {
                    socket.shutdownOutput();
                } catch (IOException ignored) {
                    // Already shut or reset; close below still releases it.
                }
            }
            closeQuietly(socket);
        }
    }
}
