/* test_vmdk.c: unit tests of runtime/vmdk.c, the VMDK disk descriptor (reference vmware-cbt.md
 * §1.4, §2.4, §2.5): a CBT-enabled descriptor with its change tracking file, raw device mappings
 * in both modes and both spellings, a snapshot delta, extents with their lines, the descriptor
 * embedded in a monolithic sparse image, and input that holds no descriptor. */
#include "check.h"
#include "vmdk.h"

#include <stdlib.h>
#include <string.h>

static int parse(const char *text, size_t len, vr_vmdk *d, char *err) {
  return vr_vmdk_parse(text, len, d, err, VR_VMDK_ERRLEN);
}

static void test_descriptor(void) {
  vr_vmdk d;
  char err[VR_VMDK_ERRLEN];
  const char *text = "# Disk DescriptorFile\n"
                     "version=3\n"
                     "encoding=\"UTF-8\"\n"
                     "CID=21c6c69b\n"
                     "parentCID=ffffffff\n"
                     "createType=\"vmfs\"\n"
                     "\n"
                     "# Extent description\n"
                     "RW 41963520 VMFS \"db-flat.vmdk\"\n"
                     "RDONLY 2048 ZERO\n"
                     "\n"
                     "# Change Tracking File\n"
                     "changeTrackPath=\"db-ctk.vmdk\"\n"
                     "\n"
                     "# The Disk Data Base\n"
                     "#DDB\n"
                     "\n"
                     "ddb.virtualHWVersion = \"19\"\n"
                     "ddb.thinProvisioned = \"1\"\n";
  CHECK(parse(text, strlen(text), &d, err) == 0);
  CHECK(vr_vmdk_version(&d) == 3);
  CHECK_STR(vr_vmx_get(&d.fields, "changetrackpath"), "db-ctk.vmdk");
  CHECK(vr_vmx_find(&d.fields, "changeTrackPath")->line == 13);
  CHECK_STR(vr_vmx_get(&d.fields, "ddb.thinProvisioned"), "1");
  CHECK_STR(vr_vmx_get(&d.fields, "CID"), "21c6c69b");
  CHECK(d.fields.issue_count == 0); /* unquoted values are normal here */
  CHECK(vr_vmdk_rdm(&d) == 0 && vr_vmdk_physical_rdm(&d) == 0);
  CHECK(d.extent_count == 2 && !d.embedded);
  if (d.extent_count == 2) {
    CHECK_STR(d.extents[0].access, "RW");
    CHECK(d.extents[0].sectors == 41963520u && d.extents[0].line == 9);
    CHECK_STR(d.extents[0].type, "VMFS");
    CHECK_STR(d.extents[0].file, "db-flat.vmdk");
    CHECK_STR(d.extents[1].type, "ZERO");
    CHECK(d.extents[1].file == NULL && d.extents[1].line == 10);
  }
  vr_vmdk_free(&d);
}

static void test_rdm_and_delta(void) {
  static const char *const physical[] = {"vmfsPassthroughRawDeviceMap", "vmfsRDMP"};
  static const char *const virtual_[] = {"vmfsRawDeviceMap", "vmfsRDM"};
  vr_vmdk d;
  char err[VR_VMDK_ERRLEN], text[512];
  int i;
  for (i = 0; i < 2; i++) {
    snprintf(text, sizeof text,
             "# Disk DescriptorFile\nversion=1\ncreateType=\"%s\"\nRW 2097152 VMFSRAW "
             "\"lun-rdmp.vmdk\"\n",
             physical[i]);
    CHECK(parse(text, strlen(text), &d, err) == 0);
    CHECK(vr_vmdk_physical_rdm(&d) == 1 && vr_vmdk_rdm(&d) == 1 && vr_vmdk_version(&d) == 1);
    vr_vmdk_free(&d);
    snprintf(text, sizeof text,
             "# Disk DescriptorFile\nversion=3\ncreateType=\"%s\"\nRW 2097152 VMFSRDM "
             "\"lun-rdm.vmdk\"\nchangeTrackPath=\"lun-ctk.vmdk\"\n",
             virtual_[i]);
    CHECK(parse(text, strlen(text), &d, err) == 0);
    CHECK(vr_vmdk_physical_rdm(&d) == 0 && vr_vmdk_rdm(&d) == 1);
    vr_vmdk_free(&d);
  }
  snprintf(text, sizeof text,
           "# Disk DescriptorFile\nversion=1\nCID=aaaaaaaa\nparentCID=21c6c69b\n"
           "createType=\"vmfsSparse\"\nparentFileNameHint=\"db.vmdk\"\n"
           "RW 41963520 VMFSSPARSE \"db-000001-delta.vmdk\"\n");
  CHECK(parse(text, strlen(text), &d, err) == 0);
  CHECK_STR(vr_vmx_get(&d.fields, "parentFileNameHint"), "db.vmdk");
  CHECK_STR(vr_vmx_get(&d.fields, "createType"), "vmfsSparse");
  CHECK(vr_vmdk_version(&d) == 1);
  vr_vmdk_free(&d);
}

static void test_embedded(void) {
  vr_vmdk d;
  char err[VR_VMDK_ERRLEN];
  size_t len = 8 * 512;
  unsigned char *image = calloc(1, len);
  const char *desc = "# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicSparse\"\n"
                     "RW 8388608 SPARSE \"ws.vmdk\"\n";
  CHECK(image != NULL);
  if (image == NULL) return;
  memcpy(image, "KDMV", 4);
  image[28] = 1; /* descriptorOffset: sector 1 */
  image[36] = 2; /* descriptorSize: 2 sectors, NUL-padded */
  memcpy(image + 512, desc, strlen(desc));
  CHECK(parse((const char *)image, len, &d, err) == 0);
  CHECK(d.embedded && d.extent_count == 1);
  CHECK_STR(vr_vmx_get(&d.fields, "createType"), "monolithicSparse");
  vr_vmdk_free(&d);
  image[28] = 0; /* no embedded descriptor */
  CHECK(parse((const char *)image, len, &d, err) == -1);
  CHECK(strstr(err, "without an embedded descriptor") != NULL);
  vr_vmdk_free(&d);
  image[28] = 200; /* past the end */
  CHECK(parse((const char *)image, len, &d, err) == -1);
  CHECK(strstr(err, "past its end") != NULL);
  vr_vmdk_free(&d);
  CHECK(parse((const char *)image, 20, &d, err) == -1);
  CHECK(strstr(err, "cut short") != NULL);
  vr_vmdk_free(&d);
  free(image);
}

static void test_not_a_descriptor(void) {
  vr_vmdk d;
  char err[VR_VMDK_ERRLEN];
  static const char binary[] = "# Disk DescriptorFile\nversion=1\n\0\x01";
  const char *vmx = ".encoding = \"UTF-8\"\nscsi0:0.fileName = \"db.vmdk\"\n";
  CHECK(parse(binary, sizeof binary - 1, &d, err) == -1);
  CHECK_STR(err, "line 3: binary data (a NUL byte), not a disk descriptor");
  vr_vmdk_free(&d);
  CHECK(parse(vmx, strlen(vmx), &d, err) == -1);
  CHECK_STR(err, "no disk descriptor here (no createType and no extent line)");
  vr_vmdk_free(&d);
  CHECK(parse("", 0, &d, err) == -1);
  vr_vmdk_free(&d);
}

int main(void) {
  test_descriptor();
  test_rdm_and_delta();
  test_embedded();
  test_not_a_descriptor();
  return CHECK_DONE();
}
