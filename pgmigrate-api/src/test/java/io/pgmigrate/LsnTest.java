package io.pgmigrate;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class LsnTest {

    @Test
    void parsesAndPrintsLikeTheServer() {
        Lsn l = Lsn.parse("16/B374D848");
        assertThat(l.value()).isEqualTo(0x16B374D848L);
        assertThat(l).hasToString("16/B374D848");
    }

    @Test
    void comparesUnsignedAndMeasuresDistance() {
        Lsn a = Lsn.parse("0/10");
        Lsn b = Lsn.parse("1/0");
        assertThat(b.isAtOrAfter(a)).isTrue();
        assertThat(b.bytesAfter(a)).isEqualTo(0x100000000L - 0x10);
        assertThat(a.bytesAfter(b)).isZero();
        assertThat(Lsn.parse("FFFFFFFF/FFFFFFFF").compareTo(a)).isPositive();
    }

    @Test
    void rejectsGarbage() {
        assertThatThrownBy(() -> Lsn.parse("12345")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Lsn.parse("1/XYZ")).isInstanceOf(IllegalArgumentException.class);
    }
}
