package io.pgmigrate.testkit.internal;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ProxySelector;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Locale;
import java.util.UUID;

/**
 * Fetches one file of a Maven repository into the local repository, checked against the repository's {@code .sha1}.
 * Safe when several JVMs fetch the same file at once: each writes its own temporary file and renames it into place.
 */
public final class ArtifactDownload {

    private static final Logger LOG = LoggerFactory.getLogger(ArtifactDownload.class);

    private final HttpClient http;
    private final Duration requestTimeout;

    /** A download through the JVM's default proxy settings ({@code https.proxyHost} and friends). */
    public ArtifactDownload() {
        this(HttpClient.newBuilder()
                .connectTimeout(Duration.ofSeconds(30))
                .followRedirects(HttpClient.Redirect.NORMAL)
                .proxy(ProxySelector.getDefault())
                .build(), Duration.ofMinutes(5));
    }

    ArtifactDownload(HttpClient http, Duration requestTimeout) {
        this.http = http;
        this.requestTimeout = requestTimeout;
    }

    /**
     * Downloads {@code uri} to {@code target} unless it is already there, and returns {@code target}.
     *
     * @throws IOException when the file or its checksum cannot be fetched, or the checksum does not match
     */
    public Path fetch(URI uri, Path target) throws IOException {
        if (Files.isRegularFile(target)) {
            return target;
        }
        String expected = expectedSha1(uri);
        Files.createDirectories(target.getParent());
        // A unique name per download, created like any other file (honouring the umask, unlike createTempFile's
        // 0600), so a local repository shared by several users stays readable for all of them.
        Path part = target.resolveSibling(target.getFileName() + "." + UUID.randomUUID() + ".part");
        try {
            LOG.info("Downloading {}", uri);
            HttpResponse<InputStream> response = send(uri, HttpResponse.BodyHandlers.ofInputStream());
            String actual;
            try (InputStream body = response.body()) {
                if (response.statusCode() != 200) {
                    throw new IOException("HTTP " + response.statusCode() + " for " + uri);
                }
                MessageDigest sha1 = sha1();
                try (InputStream in = new DigestInputStream(body, sha1);
                     OutputStream out = Files.newOutputStream(part, StandardOpenOption.CREATE_NEW,
                             StandardOpenOption.WRITE)) {
                    in.transferTo(out);
                }
                actual = HexFormat.of().formatHex(sha1.digest());
            }
            if (!actual.equals(expected)) {
                throw new IOException("SHA-1 of " + uri + " is " + actual + " but the repository says " + expected);
            }
            moveIntoPlace(part, target);
            LOG.info("Saved {}", target);
            return target;
        } finally {
            Files.deleteIfExists(part);
        }
    }

    private String expectedSha1(URI uri) throws IOException {
        URI sha1Uri = URI.create(uri + ".sha1");
        HttpResponse<String> response = send(sha1Uri, HttpResponse.BodyHandlers.ofString(StandardCharsets.US_ASCII));
        if (response.statusCode() != 200) {
            throw new IOException("HTTP " + response.statusCode() + " for " + sha1Uri
                    + " (the checksum is required to trust the download)");
        }
        // The file holds the hex digest, sometimes followed by a file name.
        String[] parts = response.body().trim().split("\\s+");
        String digest = parts[0].toLowerCase(Locale.ROOT);
        if (!digest.matches("[0-9a-f]{40}")) {
            throw new IOException("not a SHA-1 digest in " + sha1Uri + ": " + response.body().trim());
        }
        return digest;
    }

    private <T> HttpResponse<T> send(URI uri, HttpResponse.BodyHandler<T> handler) throws IOException {
        HttpRequest request = HttpRequest.newBuilder(uri).timeout(requestTimeout).GET().build();
        try {
            return http.send(request, handler);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while downloading " + uri, e);
        }
    }

    private static void moveIntoPlace(Path part, Path target) throws IOException {
        try {
            // rename(2) replaces an existing file atomically, so a JVM that finished first is simply overwritten
            // with identical, verified bytes and no reader ever sees a partial file.
            Files.move(part, target, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            if (!Files.exists(target)) {
                Files.move(part, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            // Some file systems refuse to replace with ATOMIC_MOVE; another process already put a verified copy there.
            if (!Files.isRegularFile(target)) {
                throw e;
            }
        }
    }

    private static MessageDigest sha1() {
        try {
            return MessageDigest.getInstance("SHA-1");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JVM has no SHA-1", e);
        }
    }
}
