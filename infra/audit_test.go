package infra_test

import (
	"strings"
	"testing"
)

// The audit export's container: in the app's storage account, private,
// with a time-based retention policy only when auditRetentionDays asks for
// one, and its URL is what the worker exports to (TestOtherRoleAssignments
// checks the worker's role on it; TestSettingsLoadInTheBinaries that the
// worker and the handler load the audit settings).
func TestAuditContainer(t *testing.T) {
	files := bicepFiles(t)
	st := files["infra/modules/storage.bicep"]
	container := st.find("resource", "auditContainer")
	if container == nil || !strings.HasPrefix(container.quoted(), "Microsoft.Storage/storageAccounts/blobServices/containers@") {
		t.Fatal("storage.bicep: no audit container (resource auditContainer)")
	}
	if get(container.body(), "name") != "auditContainerName" || dig(container.body(), "properties", "publicAccess") != "'None'" {
		t.Errorf("storage.bicep: the audit container must be named auditContainerName and private: %s", container.body())
	}
	policy := st.find("resource", "auditRetention")
	switch {
	case policy == nil || !strings.HasPrefix(policy.quoted(), "Microsoft.Storage/storageAccounts/blobServices/containers/immutabilityPolicies@"):
		t.Error("storage.bicep: no immutability policy for the audit container (resource auditRetention)")
	case policy.condition() != "(auditRetentionDays > 0)":
		t.Errorf("storage.bicep: the retention policy is deployed if %q, want if auditRetentionDays > 0", policy.condition())
	case get(policy.body(), "parent") != "auditContainer" || unquote(get(policy.body(), "name")) != "default" ||
		dig(policy.body(), "properties", "immutabilityPeriodSinceCreationInDays") != "auditRetentionDays":
		t.Errorf("storage.bicep: the retention policy must be the audit container's default policy of auditRetentionDays: %s", policy.body())
	}
	if o := st.find("output", "auditContainerUrl"); o == nil || !strings.Contains(o.value, "auditContainer.name") {
		t.Error("storage.bicep must output auditContainerUrl, the audit container's URL")
	}
	main := files[mainBicep]
	if p := moduleParams(t, main, main.find("module", "worker")); p["auditContainerUrl"] != "storage.outputs.auditContainerUrl" {
		t.Errorf("main.bicep: the worker exports to %s, want storage.outputs.auditContainerUrl", p["auditContainerUrl"])
	}
	if p := moduleParams(t, main, main.find("module", "storage")); p["auditRetentionDays"] != "auditRetentionDays" {
		t.Errorf("main.bicep: the storage module's auditRetentionDays is %s, want the parameter's", p["auditRetentionDays"])
	}
}
