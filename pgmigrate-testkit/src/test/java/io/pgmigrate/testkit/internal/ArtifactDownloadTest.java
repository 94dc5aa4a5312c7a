package io.pgmigrate.testkit.internal;

import com.sun.net.httpserver.HttpServer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ArtifactDownloadTest {

    private static final byte[] JAR = "pretend this is a jar".getBytes(StandardCharsets.UTF_8);

    private final Map<String, byte[]> files = new ConcurrentHashMap<>();
    private final AtomicInteger jarRequests = new AtomicInteger();
    private HttpServer server;
    private URI base;

    @TempDir
    Path repo;

    @BeforeEach
    void serveRepository() throws Exception {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", exchange -> {
            String path = exchange.getRequestURI().getPath();
            if (path.endsWith(".jar")) {
                jarRequests.incrementAndGet();
            }
            byte[] body = files.get(path);
            if (body == null) {
                exchange.sendResponseHeaders(404, -1);
            } else {
                exchange.sendResponseHeaders(200, body.length);
                try (OutputStream out = exchange.getResponseBody()) {
                    out.write(body);
                }
            }
            exchange.close();
        });
        server.setExecutor(Executors.newFixedThreadPool(4));
        server.start();
        base = URI.create("http://127.0.0.1:" + server.getAddress().getPort() + "/");
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    @Test
    void downloadIsVerifiedAndPlacedWithNoPartialFileLeft() throws Exception {
        files.put("/a/b.jar", JAR);
        files.put("/a/b.jar.sha1", (sha1(JAR) + "  b.jar\n").getBytes(StandardCharsets.US_ASCII));
        Path target = repo.resolve("a/b.jar");

        Path fetched = new ArtifactDownload().fetch(base.resolve("a/b.jar"), target);

        assertThat(fetched).isEqualTo(target).hasBinaryContent(JAR);
        assertThat(otherFilesIn(target.getParent(), target)).isEmpty();
        // Created like any file (umask), not private like a temp file, so a shared repository stays readable.
        Path ordinary = Files.createFile(repo.resolve("ordinary"));
        assertThat(Files.getPosixFilePermissions(target)).isEqualTo(Files.getPosixFilePermissions(ordinary));
    }

    @Test
    void checksumMismatchLeavesNothingBehind() {
        files.put("/a/b.jar", JAR);
        files.put("/a/b.jar.sha1", "0000000000000000000000000000000000000000".getBytes(StandardCharsets.US_ASCII));
        Path target = repo.resolve("a/b.jar");

        assertThatThrownBy(() -> new ArtifactDownload().fetch(base.resolve("a/b.jar"), target))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("SHA-1");
        assertThat(target).doesNotExist();
        assertThat(otherFilesIn(target.getParent(), target)).isEmpty();
    }

    @Test
    void missingChecksumIsRefusedNamingItsUrl() {
        files.put("/a/b.jar", JAR);

        assertThatThrownBy(() -> new ArtifactDownload().fetch(base.resolve("a/b.jar"), repo.resolve("a/b.jar")))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("404")
                .hasMessageContaining(base.resolve("a/b.jar.sha1").toString());
        assertThat(jarRequests).hasValue(0);
    }

    @Test
    void missingFileIsReportedWithItsUrl() {
        files.put("/a/b.jar.sha1", sha1(JAR).getBytes(StandardCharsets.US_ASCII));

        assertThatThrownBy(() -> new ArtifactDownload().fetch(base.resolve("a/b.jar"), repo.resolve("a/b.jar")))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("HTTP 404 for " + base.resolve("a/b.jar"));
    }

    @Test
    void fileAlreadyInTheRepositoryIsNotDownloadedAgain() throws Exception {
        Path target = Files.createDirectories(repo.resolve("a")).resolve("b.jar");
        Files.write(target, JAR);

        new ArtifactDownload().fetch(base.resolve("a/b.jar"), target);

        assertThat(jarRequests).hasValue(0);
    }

    @Test
    void concurrentDownloadsOfOneFileAllSucceedWithTheSameBytes() throws Exception {
        files.put("/a/b.jar", JAR);
        files.put("/a/b.jar.sha1", sha1(JAR).getBytes(StandardCharsets.US_ASCII));
        Path target = repo.resolve("a/b.jar");
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            Callable<Path> fetch = () -> new ArtifactDownload().fetch(base.resolve("a/b.jar"), target);
            List<Future<Path>> results = pool.invokeAll(List.of(fetch, fetch, fetch, fetch));
            for (Future<Path> r : results) {
                assertThat(r.get(30, TimeUnit.SECONDS)).hasBinaryContent(JAR);
            }
        } finally {
            pool.shutdownNow();
        }
        assertThat(otherFilesIn(target.getParent(), target)).isEmpty();
    }

    private static List<Path> otherFilesIn(Path dir, Path except) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> !p.equals(except)).toList();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String sha1(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-1").digest(data));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
