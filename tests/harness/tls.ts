// Test certificates in cert-manager's Secret shape (tls.crt, tls.key, ca.crt): a throwaway CA and one leaf
// certificate for servers and clients alike (etcd's peer TLS is mutual), made with Debian's openssl.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TlsSecretData {
  "tls.crt": string;
  "tls.key": string;
  "ca.crt": string;
}

/** A CA and a leaf certificate naming `dnsNames` and `ips` (subjectAltName), valid for two days. */
export function testCertificates(names: { dnsNames: string[]; ips: string[] }): TlsSecretData {
  const dir = mkdtempSync(join(tmpdir(), "dzug-tls-"));
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  try {
    openssl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=dzug-test-ca");
    openssl("req", ...ec, "-keyout", "tls.key", "-out", "tls.csr", "-subj", "/CN=dzug-test");
    const san = [...names.dnsNames.map((d) => `DNS:${d}`), ...names.ips.map((ip) => `IP:${ip}`)].join(",");
    writeFileSync(
      join(dir, "ext.cnf"),
      `subjectAltName=${san}\nextendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n`,
    );
    openssl(
      "x509",
      "-req",
      "-in",
      "tls.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "tls.crt",
      "-days",
      "2",
      "-extfile",
      "ext.cnf",
    );
    const read = (f: string) => readFileSync(join(dir, f), "utf8");
    return { "tls.crt": read("tls.crt"), "tls.key": read("tls.key"), "ca.crt": read("ca.crt") };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
