package io.pgmigrate.testkit.internal;

import java.util.Locale;

/**
 * An operating system and CPU as zonky names them in its binaries artifacts ({@code linux-amd64},
 * {@code darwin-arm64v8}) and in the archive inside them ({@code postgres-linux-x86_64.txz}).
 */
public enum Platform {
    LINUX_AMD64("linux-amd64", "postgres-linux-x86_64.txz"),
    LINUX_ARM64("linux-arm64v8", "postgres-linux-arm_64.txz"),
    DARWIN_AMD64("darwin-amd64", "postgres-darwin-x86_64.txz"),
    DARWIN_ARM64("darwin-arm64v8", "postgres-darwin-arm_64.txz");

    private final String classifier;
    private final String archiveName;

    Platform(String classifier, String archiveName) {
        this.classifier = classifier;
        this.archiveName = archiveName;
    }

    /** The platform of this JVM. */
    public static Platform current() {
        return of(System.getProperty("os.name", ""), System.getProperty("os.arch", ""));
    }

    /**
     * The platform for the given {@code os.name} and {@code os.arch} values.
     *
     * @throws IllegalStateException for a platform zonky publishes no binaries for that the testkit knows
     */
    public static Platform of(String osName, String osArch) {
        String os = osName.toLowerCase(Locale.ROOT);
        String arch = osArch.toLowerCase(Locale.ROOT);
        boolean amd64 = arch.equals("amd64") || arch.equals("x86_64") || arch.equals("x64");
        boolean arm64 = arch.equals("aarch64") || arch.equals("arm64");
        if (os.startsWith("linux")) {
            if (amd64) {
                return LINUX_AMD64;
            }
            if (arm64) {
                return LINUX_ARM64;
            }
        } else if (os.startsWith("mac") || os.startsWith("darwin")) {
            if (amd64) {
                return DARWIN_AMD64;
            }
            if (arm64) {
                return DARWIN_ARM64;
            }
        }
        throw new IllegalStateException("no embedded PostgreSQL binaries for os.name=" + osName + ", os.arch="
                + osArch + "; supported: Linux and macOS on amd64 or arm64. Point the system property "
                + "pgmigrate.testkit.pg<major>.binaries at a zonky binaries jar or .txz for this machine, "
                + "or use the Testcontainers provider");
    }

    /** The suffix of zonky's artifact id, such as {@code linux-amd64}. */
    public String classifier() {
        return classifier;
    }

    /** The resource inside the binaries jar that holds the PostgreSQL installation. */
    public String archiveName() {
        return archiveName;
    }
}
