/* test_vmx.c: unit tests of runtime/vmx.c, the .vmx/.vmsd key/value format (reference
 * vmware-cbt.md §2): keys in any case, |XX escapes, comments, CRLF and a byte order mark,
 * duplicates (the first wins), odd lines as issues with their line numbers, keys that are also
 * namespaces, `present` groups, booleans, the disks on every bus, and input that is no such file
 * (binary data, VMDK images and descriptors, a huge line). */
#include "check.h"
#include "vmdk.h"
#include "vmx.h"

#include <stdlib.h>
#include <string.h>

static int parse(const char *text, vr_vmx *v) {
  char err[VR_VMX_ERRLEN];
  int rc = vr_vmx_parse(text, strlen(text), v, err, sizeof err);
  if (rc != 0) fprintf(stderr, "parse failed: %s\n", err);
  return rc;
}

/* Whether an issue on line `line` contains `text`. */
static int has_issue(const vr_vmx *v, int line, const char *text) {
  size_t i;
  for (i = 0; i < v->issue_count; i++) {
    if (v->issues[i].line == line && strstr(v->issues[i].message, text) != NULL) return 1;
  }
  return 0;
}

static void test_syntax(void) {
  vr_vmx v;
  const char *text = "\xEF\xBB\xBF"
                     "#!/usr/bin/vmware\r\n"
                     ".encoding = \"UTF-8\"\r\n"
                     "\r\n"
                     "  # a comment\n"
                     "displayName = \"web |22one|22 |7C a|7cb\"\n"
                     "CTKEnabled=\"TRUE\"\n"
                     "annotation = \"x|zzy |00 end|\"\n"
                     "ctkenabled = \"FALSE\"\n"
                     "guestOS = other\n"
                     "nvram = \"open\n"
                     "just a line\n"
                     "= \"no key\"\n"
                     "empty = \"\"\n"
                     "quoted.inner = \"a\"b\"\n";
  CHECK(parse(text, &v) == 0);
  CHECK_STR(vr_vmx_get(&v, ".ENCODING"), "UTF-8");
  CHECK_STR(vr_vmx_get(&v, "displayname"), "web \"one\" | a|b");
  CHECK_STR(vr_vmx_get(&v, "ctkEnabled"), "TRUE"); /* the first of the duplicates */
  CHECK(vr_vmx_find(&v, "ctkEnabled")->line == 6);
  CHECK(has_issue(&v, 8, "duplicate key 'ctkenabled' (first at line 6)"));
  CHECK_STR(vr_vmx_get(&v, "annotation"), "x|zzy |00 end|");
  CHECK(has_issue(&v, 7, "'|' that is not an escape"));
  CHECK_STR(vr_vmx_get(&v, "guestOS"), "other");
  CHECK(vr_vmx_find(&v, "guestOS")->quoted == 0);
  CHECK(has_issue(&v, 9, "the value of 'guestOS' is not quoted"));
  CHECK_STR(vr_vmx_get(&v, "nvram"), "open");
  CHECK(has_issue(&v, 10, "no closing quote"));
  CHECK(has_issue(&v, 11, "'just' is not followed by '='"));
  CHECK(has_issue(&v, 12, "without a key"));
  CHECK_STR(vr_vmx_get(&v, "empty"), "");
  CHECK_STR(vr_vmx_get(&v, "quoted.inner"), "a\"b");
  CHECK(vr_vmx_get(&v, "missing") == NULL);
  CHECK(v.count == 8);
  {
    size_t i; /* issues come in line order */
    for (i = 1; i < v.issue_count; i++) CHECK(v.issues[i - 1].line <= v.issues[i].line);
  }
  vr_vmx_free(&v);
}

static void test_booleans_and_groups(void) {
  vr_vmx v;
  const char *text = "a = \"true\"\nb = \"FALSE\"\nc = \"1\"\nd = \"no\"\ne = \"maybe\"\n"
                     "scsi0.present = \"TRUE\"\n"
                     "scsi0:0.present = \"TRUE\"\n"
                     "scsi0:1.present = \"FALSE\"\n"
                     "scsi1.present = \"FALSE\"\n"
                     "scsi1:0.present = \"TRUE\"\n"
                     "ide0:0.present = \"TRUE\"\n"
                     "ethernet0 = \"x\"\n"
                     "ethernet0.present = \"TRUE\"\n";
  CHECK(parse(text, &v) == 0);
  CHECK(vr_vmx_bool(&v, "A") == 1 && vr_vmx_bool(&v, "b") == 0 && vr_vmx_bool(&v, "c") == 1);
  CHECK(vr_vmx_bool(&v, "d") == 0 && vr_vmx_bool(&v, "e") == -1 && vr_vmx_bool(&v, "f") == -1);
  CHECK(vr_vmx_present(&v, "scsi0") && vr_vmx_present(&v, "scsi0:0"));
  CHECK(!vr_vmx_present(&v, "scsi0:1")); /* its own present is FALSE */
  CHECK(!vr_vmx_present(&v, "scsi1:0")); /* its controller is off */
  CHECK(vr_vmx_present(&v, "ide0:0"));   /* no ide0.present: the device decides */
  CHECK(!vr_vmx_present(&v, "sata0:0")); /* not declared */
  CHECK(has_issue(&v, 13, "'ethernet0' is both a key (line 12) and the namespace"));
  vr_vmx_free(&v);
}

static void test_disks(void) {
  vr_vmx v;
  vr_vmx_disk *d;
  size_t n;
  const char *text = "scsi0.present = \"TRUE\"\n"
                     "scsi0:1.present = \"TRUE\"\n"
                     "scsi0:1.fileName = \"data.vmdk\"\n"
                     "scsi0:1.mode = \"independent-persistent\"\n"
                     "scsi0:0.present = \"TRUE\"\n"
                     "scsi0:0.fileName = \"vm.vmdk\"\n"
                     "scsi0:0.ctkEnabled = \"TRUE\"\n"
                     "ide1:0.present = \"TRUE\"\n"
                     "ide1:0.deviceType = \"cdrom-image\"\n"
                     "ide1:0.fileName = \"/iso/x.iso\"\n"
                     "SATA0:0.Present = \"TRUE\"\n"
                     "sata0:0.fileName = \"vm_2.VMDK\"\n"
                     "nvme0:0.present = \"FALSE\"\n"
                     "nvme0:0.fileName = \"gone.vmdk\"\n"
                     "scsi0:2.present = \"TRUE\"\n"
                     "scsi0:2.deviceType = \"scsi-passthru\"\n"
                     "scsi10:3.fileName = \"big.vmdk\"\n"
                     "scsi0:0:1.fileName = \"not-a-device\"\n"
                     "scsiX:0.fileName = \"not-a-device\"\n";
  CHECK(parse(text, &v) == 0);
  n = vr_vmx_disks(&v, &d);
  CHECK(n == 7);
  if (n == 7) { /* sorted: ide, nvme, sata, scsi; controller; unit */
    CHECK_STR(d[0].node, "ide1:0");
    CHECK(d[0].present && !d[0].is_disk && d[0].line == 8);
    CHECK_STR(d[1].node, "nvme0:0");
    CHECK(!d[1].present && d[1].is_disk);
    CHECK_STR(d[2].node, "sata0:0");
    CHECK(d[2].present && d[2].is_disk && d[2].ctk_enabled == -1);
    CHECK_STR(d[3].node, "scsi0:0");
    CHECK(d[3].is_disk && d[3].ctk_enabled == 1 && !d[3].independent);
    CHECK_STR(d[3].file, "vm.vmdk");
    CHECK_STR(d[3].mode, "persistent");
    CHECK(d[3].line == 5 && d[3].controller == 0 && d[3].unit == 0);
    CHECK_STR(d[4].node, "scsi0:1");
    CHECK(d[4].independent && d[4].ctk_enabled == -1 && d[4].line == 2);
    CHECK_STR(d[5].node, "scsi0:2");
    CHECK(!d[5].is_disk);
    CHECK_STR(d[5].device_type, "scsi-passthru");
    CHECK_STR(d[6].node, "scsi10:3");
    CHECK(!d[6].present && d[6].controller == 10 && d[6].unit == 3);
  }
  free(d);
  vr_vmx_free(&v);
}

static void test_not_a_vmx(void) {
  vr_vmx v;
  char err[VR_VMX_ERRLEN];
  static const char binary[] = "a = \"1\"\nb = \"2\"\nc\0d";
  CHECK(vr_vmx_parse(binary, sizeof binary - 1, &v, err, sizeof err) == -1);
  CHECK_STR(err, "line 3: binary data (a NUL byte), not a text file");
  vr_vmx_free(&v);
  CHECK(vr_vmx_parse("KDMV\x01\x00\x00\x00", 8, &v, err, sizeof err) == -1);
  CHECK(strstr(err, "a VMDK disk image") != NULL);
  vr_vmx_free(&v);
  CHECK(vr_vmx_parse("# Disk DescriptorFile\nversion=1\n", 32, &v, err, sizeof err) == -1);
  CHECK(strstr(err, "a VMDK disk descriptor") != NULL);
  vr_vmx_free(&v);
  CHECK(vr_vmx_parse("", 0, &v, err, sizeof err) == 0 && v.count == 0); /* an empty .vmsd */
  vr_vmx_free(&v);
  { /* a 4 MiB line and a truncated last line */
    size_t n = (size_t)4 << 20;
    char *big = malloc(n + 64);
    CHECK(big != NULL);
    if (big != NULL) {
      memcpy(big, "long = \"", 8);
      memset(big + 8, 'x', n);
      memcpy(big + 8 + n, "\"\nlast = \"cut", 13);
      CHECK(vr_vmx_parse(big, n + 21, &v, err, sizeof err) == 0);
      CHECK(vr_vmx_get(&v, "long") != NULL && strlen(vr_vmx_get(&v, "long")) == n);
      CHECK_STR(vr_vmx_get(&v, "last"), "cut");
      CHECK(has_issue(&v, 2, "no closing quote"));
      vr_vmx_free(&v);
      free(big);
    }
  }
}

/* A bounded random fuzz (deterministic seed): inputs built from the format's own tokens and
 * random bytes must parse or be refused cleanly (ASan and UBSan watch the CI run), with entries
 * and issues in line order and every disk's strings inside the parse; the same bytes go through
 * the VMDK descriptor reader, bare and behind a sparse image header. */
static void test_fuzz(void) {
  static const char *const tokens[] = {
      "scsi0:0",     "sata1:2",     "nvme0:0",    "ide0:1", ".present", ".fileName",
      ".ctkEnabled", ".mode",       "scsi0",      " = ",    "=",        "\"",
      "\"TRUE\"",    "|",           "|22",        "|7C",    "|0",       "#",
      "\n",          "\r\n",        " ",          "\t",     "x.vmdk",   "independent-",
      "deviceType",  "cdrom-image", "ctkEnabled", "..",     ":"};
  unsigned long long seed = 0x9E3779B97F4A7C15ull;
  char buf[2048];
  int round, bad = 0;
  for (round = 0; round < 100000; round++) {
    size_t len = 0, i;
    vr_vmx v;
    vr_vmx_disk *disks;
    char err[VR_VMX_ERRLEN];
    while (len < sizeof buf - 32) {
      unsigned r;
      seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
      r = (unsigned)(seed >> 32);
      if (r % 97 == 0) break;
      if (r % 5 == 0) {
        buf[len++] = (char)(r >> 8); /* any byte, NUL included */
      } else {
        const char *t = tokens[(r >> 8) % (sizeof tokens / sizeof tokens[0])];
        memcpy(buf + len, t, strlen(t));
        len += strlen(t);
      }
    }
    if (vr_vmx_parse(buf, len, &v, err, sizeof err) == 0) {
      size_t n = vr_vmx_disks(&v, &disks);
      for (i = 1; i < v.count; i++) bad |= v.entries[i - 1].line > v.entries[i].line;
      for (i = 1; i < v.issue_count; i++) bad |= v.issues[i - 1].line > v.issues[i].line;
      for (i = 0; n != (size_t)-1 && i < n; i++) {
        bad |= disks[i].line < 1 || strlen(disks[i].node) < 5;
        (void)vr_vmx_present(&v, disks[i].node);
      }
      free(disks);
    } else {
      bad |= err[0] == '\0';
    }
    vr_vmx_free(&v);
    { /* the same bytes as a VMDK descriptor, and behind a sparse image header */
      vr_vmdk d;
      unsigned char image[sizeof buf + 64];
      if (vr_vmdk_parse(buf, len, &d, err, sizeof err) == 0) {
        for (i = 0; i < d.extent_count; i++) bad |= d.extents[i].line < 1;
      }
      vr_vmdk_free(&d);
      memset(image, 0, 64);
      memcpy(image, "KDMV", 4);
      image[28] = (unsigned char)(seed & 3); /* descriptor offset: 0 to 3 sectors */
      image[36] = (unsigned char)((seed >> 2) & 7);
      memcpy(image + 64, buf, len);
      (void)vr_vmdk_parse((const char *)image, len + 64, &d, err, sizeof err);
      vr_vmdk_free(&d);
    }
  }
  CHECK(!bad);
}

int main(void) {
  test_fuzz();
  test_syntax();
  test_booleans_and_groups();
  test_disks();
  test_not_a_vmx();
  return CHECK_DONE();
}
