package io.pgmigrate.testkit;

import io.pgmigrate.Side;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TcpProxyTest {

    /** Bounds every blocking read; far above loopback latency, and below the proxy's 10 s backend connect timeout. */
    private static final int TIMEOUT_MILLIS = 5_000;

    private final List<AutoCloseable> resources = new ArrayList<>();
    private EchoServer source;
    private EchoServer target;

    @BeforeEach
    void startBackends() throws IOException {
        source = track(new EchoServer("S:"));
        target = track(new EchoServer("T:"));
    }

    @AfterEach
    void closeEverything() throws Exception {
        for (int i = resources.size() - 1; i >= 0; i--) {
            resources.get(i).close();
        }
    }

    @Test
    void forwardsToTheInitialSide() throws IOException {
        TcpProxy toSource = track(TcpProxy.start(source.address(), target.address(), Side.SOURCE));
        TcpProxy toTarget = track(TcpProxy.start(source.address(), target.address(), Side.TARGET));

        assertThat(connect(toSource).ask("hello")).isEqualTo("S:hello");
        assertThat(connect(toTarget).ask("hello")).isEqualTo("T:hello");
        assertThat(toSource.active()).isEqualTo(Side.SOURCE);
        assertThat(toSource.openConnections()).isEqualTo(1);
        assertThat(toSource.connectionsAccepted()).isEqualTo(1);
    }

    @Test
    void forwardsPayloadsLargerThanTheBufferIntact() throws IOException {
        TcpProxy proxy = track(TcpProxy.start(source.address(), target.address(), Side.SOURCE));
        String line = "x".repeat(300_000) + "end";

        assertThat(connect(proxy).ask(line)).isEqualTo("S:" + line);
    }

    @Test
    void newConnectionsGoToTheNewSideAfterSwitch() throws IOException {
        TcpProxy proxy = track(TcpProxy.start(source.address(), target.address(), Side.SOURCE));

        proxy.switchTo(Side.TARGET);
        assertThat(proxy.active()).isEqualTo(Side.TARGET);
        assertThat(connect(proxy).ask("one")).isEqualTo("T:one");

        proxy.switchTo(Side.SOURCE);
        assertThat(connect(proxy).ask("two")).isEqualTo("S:two");
    }

    @Test
    void switchClosesEveryConnectionToTheOldSide() throws Exception {
        TcpProxy proxy = track(TcpProxy.start(source.address(), target.address(), Side.SOURCE));
        Client first = connect(proxy);
        Client second = connect(proxy);
        assertThat(first.ask("a")).isEqualTo("S:a");
        assertThat(second.ask("b")).isEqualTo("S:b");

        proxy.switchTo(Side.TARGET);

        assertThat(proxy.openConnections()).isZero();
        assertThat(first.isClosedByPeer()).isTrue();
        assertThat(second.isClosedByPeer()).isTrue();
        assertThat(source.awaitClosedConnections(2)).as("source saw both backend connections close").isTrue();
        assertThat(connect(proxy).ask("c")).isEqualTo("T:c");
    }

    @Test
    void switchClosesAConnectionWhoseBackendConnectIsInProgress() throws Exception {
        // A listener whose accept queue is full drops new SYNs, so the proxy's connect to it hangs.
        ServerSocket stalled = track(new ServerSocket(0, 1, InetAddress.getLoopbackAddress()));
        InetSocketAddress stalledAddress = new InetSocketAddress(stalled.getInetAddress(), stalled.getLocalPort());
        fillAcceptQueue(stalledAddress);
        TcpProxy proxy = track(TcpProxy.start(stalledAddress, target.address(), Side.SOURCE));
        Client client = connect(proxy);
        await(() -> proxy.openConnections() == 1);

        proxy.switchTo(Side.TARGET);

        assertThat(proxy.openConnections()).isZero();
        // Were the half-made connection not closed, the client would wait out the 10 s connect timeout instead.
        assertThat(client.isClosedByPeer()).isTrue();
        assertThat(connect(proxy).ask("after")).isEqualTo("T:after");
    }

    @Test
    void switchToTheActiveSideKeepsConnections() throws IOException {
        TcpProxy proxy = track(TcpProxy.start(source.address(), target.address(), Side.SOURCE));
        Client client = connect(proxy);
        assertThat(client.ask("before")).isEqualTo("S:before");

        proxy.switchTo(Side.SOURCE);

        assertThat(proxy.openConnections()).isEqualTo(1);
        assertThat(client.ask("after")).isEqualTo("S:after");
        assertThat(source.closedConnections()).isZero();
    }

    @Test
    void refusedBackendClosesTheClient() throws Exception {
        TcpProxy proxy = track(TcpProxy.start(source.address(), unusedAddress(), Side.TARGET));

        Client client = connect(proxy);

        assertThat(client.isClosedByPeer()).isTrue();
        await(() -> proxy.openConnections() == 0);
        proxy.switchTo(Side.SOURCE);
        assertThat(connect(proxy).ask("retry")).isEqualTo("S:retry");
        assertThat(proxy.connectionsAccepted()).isEqualTo(2);
    }

    @Test
    void halfCloseLetsTheBackendFinishItsReply() throws Exception {
        TcpProxy proxy = track(TcpProxy.start(source.address(), target.address(), Side.SOURCE));
        Client client = connect(proxy);
        client.send("last");

        client.socket.shutdownOutput();

        assertThat(client.readLine()).isEqualTo("S:last");
        assertThat(client.readLine()).isEqualTo("S:bye");
        assertThat(client.isClosedByPeer()).isTrue();
        await(() -> proxy.openConnections() == 0);
    }

    @Test
    void closeStopsAccepting() throws Exception {
        TcpProxy proxy = track(TcpProxy.start(source.address(), target.address(), Side.SOURCE));
        Client client = connect(proxy);
        assertThat(client.ask("hi")).isEqualTo("S:hi");

        proxy.close();
        proxy.close();

        assertThat(client.isClosedByPeer()).isTrue();
        assertThat(proxy.openConnections()).isZero();
        assertThatThrownBy(() -> new Socket().connect(new InetSocketAddress(proxy.host(), proxy.port()), TIMEOUT_MILLIS))
                .isInstanceOf(ConnectException.class);
        assertThatThrownBy(() -> proxy.switchTo(Side.TARGET)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void listensOnTheRequestedLoopbackPort() throws IOException {
        int port = unusedAddress().getPort();

        TcpProxy proxy = track(TcpProxy.start(source.address(), target.address(), Side.SOURCE, port));

        assertThat(proxy.port()).isEqualTo(port);
        assertThat(proxy.host()).isEqualTo("127.0.0.1");
        assertThat(proxy.description()).isEqualTo("tcp proxy 127.0.0.1:" + port);
        assertThat(connect(proxy).ask("hi")).isEqualTo("S:hi");
    }

    @Test
    void rejectsAPortOutOfRange() {
        assertThatThrownBy(() -> TcpProxy.start(source.address(), target.address(), Side.SOURCE, 65_536))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("port is 65536; it must be 0 (any free port) to 65535");
    }

    private <T extends AutoCloseable> T track(T resource) {
        resources.add(resource);
        return resource;
    }

    private Client connect(TcpProxy proxy) throws IOException {
        return track(new Client(new InetSocketAddress(proxy.host(), proxy.port())));
    }

    private void fillAcceptQueue(InetSocketAddress address) throws IOException {
        for (int i = 0; i < 64; i++) {
            Socket filler = track(new Socket());
            try {
                filler.connect(address, 500);
            } catch (SocketTimeoutException e) {
                return;
            }
        }
        throw new IllegalStateException("the accept queue of " + address + " never filled up");
    }

    private static InetSocketAddress unusedAddress() throws IOException {
        try (ServerSocket probe = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return new InetSocketAddress(probe.getInetAddress(), probe.getLocalPort());
        }
    }

    /** Waits with a bounded backoff for a state the proxy reaches on its own threads. */
    private static void await(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofMillis(TIMEOUT_MILLIS).toNanos();
        long pause = 1;
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as("condition not reached within %d ms", TIMEOUT_MILLIS).isLessThan(deadline);
            Thread.sleep(pause);
            pause = Math.min(pause * 2, 50);
        }
    }

    /** A line client with a read timeout, so a proxy that fails to forward or close fails the test instead of hanging it. */
    private static final class Client implements AutoCloseable {

        final Socket socket;
        private final BufferedReader in;
        private final OutputStream out;

        Client(InetSocketAddress address) throws IOException {
            socket = new Socket();
            socket.connect(address, TIMEOUT_MILLIS);
            socket.setSoTimeout(TIMEOUT_MILLIS);
            in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
            out = socket.getOutputStream();
        }

        void send(String line) throws IOException {
            out.write((line + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        }

        String readLine() throws IOException {
            return in.readLine();
        }

        String ask(String line) throws IOException {
            send(line);
            return readLine();
        }

        /** True if the next read sees end of stream or a reset; false if nothing happens before the timeout. */
        boolean isClosedByPeer() {
            try {
                return in.read() == -1;
            } catch (SocketTimeoutException e) {
                return false;
            } catch (IOException e) {
                return true;
            }
        }

        @Override
        public void close() throws IOException {
            socket.close();
        }
    }

    /** Replies to each line with a prefix naming its side, and with {@code bye} when the client half-closes. */
    private static final class EchoServer implements AutoCloseable {

        private final String prefix;
        private final ServerSocket server;
        private final Semaphore closed = new Semaphore(0);
        private final List<Socket> accepted = new ArrayList<>();

        EchoServer(String prefix) throws IOException {
            this.prefix = prefix;
            this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            Thread acceptor = new Thread(this::acceptLoop, "echo-" + prefix + "-accept");
            acceptor.setDaemon(true);
            acceptor.start();
        }

        InetSocketAddress address() {
            return new InetSocketAddress(server.getInetAddress(), server.getLocalPort());
        }

        int closedConnections() {
            return closed.availablePermits();
        }

        boolean awaitClosedConnections(int count) throws InterruptedException {
            if (!closed.tryAcquire(count, TIMEOUT_MILLIS, TimeUnit.MILLISECONDS)) {
                return false;
            }
            closed.release(count);
            return true;
        }

        private void acceptLoop() {
            while (true) {
                Socket socket;
                try {
                    socket = server.accept();
                } catch (IOException e) {
                    return;
                }
                synchronized (accepted) {
                    accepted.add(socket);
                }
                Thread handler = new Thread(() -> serve(socket), "echo-" + prefix + "-conn");
                handler.setDaemon(true);
                handler.start();
            }
        }

        private void serve(Socket socket) {
            try (socket) {
                BufferedReader in = new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.UTF_8));
                OutputStream out = socket.getOutputStream();
                for (String line; (line = in.readLine()) != null; ) {
                    out.write((prefix + line + "\n").getBytes(StandardCharsets.UTF_8));
                    out.flush();
                }
                out.write((prefix + "bye\n").getBytes(StandardCharsets.UTF_8));
                out.flush();
            } catch (IOException e) {
                // A reset from the proxy counts as a close as much as an end of stream does.
            } finally {
                closed.release();
            }
        }

        @Override
        public void close() throws IOException {
            server.close();
            synchronized (accepted) {
                for (Socket socket : accepted) {
                    try {
                        socket.close();
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                }
            }
        }
    }
}
