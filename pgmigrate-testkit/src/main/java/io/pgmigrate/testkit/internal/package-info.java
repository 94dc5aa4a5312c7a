/** Implementation details of the testkit; not API, may change in any release. */
package io.pgmigrate.testkit.internal;
