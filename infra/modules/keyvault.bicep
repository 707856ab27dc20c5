// The Key Vault that holds the key the approval links are signed with
// (APPROVALS_LINK_KEY) and, during a rotation, the key before it
// (APPROVALS_LINK_KEY_PREVIOUS). The worker signs links with the current key;
// the handler checks them against both. It also holds the worker's
// notification secrets (config.Notify) that are set: the SMTP password, the
// Teams, Slack and webhook URLs and the two signing secrets; and, when set,
// the key that seals audit trails (APPROVALS_AUDIT_KEY) and the one before
// it (APPROVALS_AUDIT_KEY_PREVIOUS), which both apps read.
//
// The secrets' source of truth is the azd environment: the preprovision hook
// (cmd/linkkey) generates the current key once and keeps it there, the
// notification secrets are put there with `azd env set`, and every `azd
// provision` writes them here again. So a provision never changes a secret by
// itself, and a vault lost to `azd down --purge` loses nothing that the next
// `azd up` cannot restore.

@description('Name of the vault (3-24 letters, digits and hyphens, globally unique).')
param name string

@description('Azure region of the vault.')
param location string

@description('Tags for the vault.')
param tags object

@description('Key the approval links are signed with: at least 32 bytes. From the azd environment (APPROVALS_LINK_KEY).')
@secure()
@minLength(32)
param linkKey string

@description('Key before the last rotation, still accepted for links already sent (APPROVALS_LINK_KEY_PREVIOUS); empty when no rotation is under way.')
@secure()
param linkKeyPrevious string = ''

@description('Ed25519 seed, base64, that seals the audit trails (APPROVALS_AUDIT_KEY); empty when the audit is off.')
@secure()
param auditKey string = ''

@description('Audit key before the last rotation (APPROVALS_AUDIT_KEY_PREVIOUS), whose public key is still published; empty outside a rotation.')
@secure()
param auditKeyPrevious string = ''

// The notification secrets, each empty when it is not set.
@description('Password of the SMTP user (APPROVALS_SMTP_PASSWORD).')
@secure()
param smtpPassword string = ''

@description('Teams Workflows webhook URL (APPROVALS_TEAMS_WEBHOOK_URL).')
@secure()
param teamsWebhookUrl string = ''

@description('Slack incoming webhook URL (APPROVALS_SLACK_WEBHOOK_URL).')
@secure()
param slackWebhookUrl string = ''

@description('URL of the generic webhook (APPROVALS_WEBHOOK_URL).')
@secure()
param webhookUrl string = ''

@description('Key the webhook notifications are signed with (APPROVALS_WEBHOOK_SECRET).')
@secure()
param webhookSecret string = ''

@description('Key the approval callbacks are signed with (APPROVALS_CALLBACK_SECRET).')
@secure()
param callbackSecret string = ''

@description('Object id of the Function App\'s identity, given Key Vault Secrets User.')
param apiPrincipalId string

@description('Object id of the worker\'s identity, given Key Vault Secrets User.')
param workerPrincipalId string

// - RBAC instead of access policies, so that who may read a secret is a role
//   assignment like every other grant in this template.
// - Soft delete is on (it can no longer be turned off) with the shortest
//   retention, 7 days.
// - Purge protection is left off (the property is omitted: it cannot be set
//   to false, only left unset or turned on for good). With it on, `azd down
//   --purge` could not purge the vault, and the next `azd up` of the same
//   environment would fail for 7 days on the name the deleted vault still
//   holds. What it protects against, losing the secrets for good, costs
//   nothing here: they are kept in the azd environment and written again by
//   every provision.
resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }
}

resource linkKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'approvals-link-key'
  properties: {
    value: linkKey
    contentType: 'text/plain'
  }
}

// Outside a rotation the previous key is the current one, so the secret and
// the handler's setting always exist and nothing in the template turns on
// whether a rotation is under way: a handler that accepts the same key twice
// accepts exactly the current key.
resource linkKeyPreviousSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = {
  parent: vault
  name: 'approvals-link-key-previous'
  properties: {
    value: empty(linkKeyPrevious) ? linkKey : linkKeyPrevious
    contentType: 'text/plain'
  }
}

// Which notification secrets are set, by the variable the worker reads each
// from. A secret that is not set gets no Key Vault secret (Key Vault holds no
// empty values) and the worker no reference to one. That a secret is set is
// all these tell of it, so the conditions below and the output use them
// rather than the secure parameters, which no output may mention.
var notifySecretSet = {
  APPROVALS_SMTP_PASSWORD: !empty(smtpPassword)
  APPROVALS_TEAMS_WEBHOOK_URL: !empty(teamsWebhookUrl)
  APPROVALS_SLACK_WEBHOOK_URL: !empty(slackWebhookUrl)
  APPROVALS_WEBHOOK_URL: !empty(webhookUrl)
  APPROVALS_WEBHOOK_SECRET: !empty(webhookSecret)
  APPROVALS_CALLBACK_SECRET: !empty(callbackSecret)
}

// Each is named for its variable, in lower case with hyphens, as the worker's
// Container Apps secret that reads it is. A secret unset later stays in the
// vault, unread, until someone deletes it.
resource smtpPasswordSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (notifySecretSet.APPROVALS_SMTP_PASSWORD) {
  parent: vault
  name: 'approvals-smtp-password'
  properties: {
    value: smtpPassword
    contentType: 'text/plain'
  }
}

resource teamsWebhookUrlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (notifySecretSet.APPROVALS_TEAMS_WEBHOOK_URL) {
  parent: vault
  name: 'approvals-teams-webhook-url'
  properties: {
    value: teamsWebhookUrl
    contentType: 'text/plain'
  }
}

resource slackWebhookUrlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (notifySecretSet.APPROVALS_SLACK_WEBHOOK_URL) {
  parent: vault
  name: 'approvals-slack-webhook-url'
  properties: {
    value: slackWebhookUrl
    contentType: 'text/plain'
  }
}

resource webhookUrlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (notifySecretSet.APPROVALS_WEBHOOK_URL) {
  parent: vault
  name: 'approvals-webhook-url'
  properties: {
    value: webhookUrl
    contentType: 'text/plain'
  }
}

resource webhookSecretSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (notifySecretSet.APPROVALS_WEBHOOK_SECRET) {
  parent: vault
  name: 'approvals-webhook-secret'
  properties: {
    value: webhookSecret
    contentType: 'text/plain'
  }
}

resource callbackSecretSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (notifySecretSet.APPROVALS_CALLBACK_SECRET) {
  parent: vault
  name: 'approvals-callback-secret'
  properties: {
    value: callbackSecret
    contentType: 'text/plain'
  }
}

// The audit keys, only when set, as the notification secrets. That they
// are set is all these tell of them.
var auditKeySet = {
  APPROVALS_AUDIT_KEY: !empty(auditKey)
  APPROVALS_AUDIT_KEY_PREVIOUS: !empty(auditKeyPrevious)
}

resource auditKeySecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (auditKeySet.APPROVALS_AUDIT_KEY) {
  parent: vault
  name: 'approvals-audit-key'
  properties: {
    value: auditKey
    contentType: 'text/plain'
  }
}

resource auditKeyPreviousSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (auditKeySet.APPROVALS_AUDIT_KEY_PREVIOUS) {
  parent: vault
  name: 'approvals-audit-key-previous'
  properties: {
    value: auditKeyPrevious
    contentType: 'text/plain'
  }
}

// Both apps read secrets, and nothing more: Key Vault Secrets User lets an
// identity read secret values, not list, write or delete them, nor touch
// keys and certificates. The vault holds only the apps' own secrets.
var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'

resource apiSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, apiPrincipalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: apiPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource workerSecretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, workerPrincipalId, keyVaultSecretsUser)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUser)
    principalId: workerPrincipalId
    principalType: 'ServicePrincipal'
  }
}

// The apps reference a secret's exact version, so a provision that changes a
// key changes the reference too: the Function App restarts with the new
// value and the worker gets a new revision, at once, rather than whenever
// each platform next refreshes a versionless reference (up to a day on App
// Service). The URIs name the secrets; they hold nothing secret.
output name string = vault.name
output linkKeySecretUri string = linkKeySecret.properties.secretUriWithVersion
output linkKeyPreviousSecretUri string = linkKeyPreviousSecret.properties.secretUriWithVersion
// The notification secrets' versioned URIs by variable, empty for a secret
// that is not set; only the worker reads them. One object rather than an
// output each: an output named for a password reads as one to the linter.
// The condition spares the reference to a secret that was not deployed,
// which would fail.
output notifySecretUris object = {
  APPROVALS_SMTP_PASSWORD: notifySecretSet.APPROVALS_SMTP_PASSWORD ? smtpPasswordSecret.properties.secretUriWithVersion : ''
  APPROVALS_TEAMS_WEBHOOK_URL: notifySecretSet.APPROVALS_TEAMS_WEBHOOK_URL ? teamsWebhookUrlSecret.properties.secretUriWithVersion : ''
  APPROVALS_SLACK_WEBHOOK_URL: notifySecretSet.APPROVALS_SLACK_WEBHOOK_URL ? slackWebhookUrlSecret.properties.secretUriWithVersion : ''
  APPROVALS_WEBHOOK_URL: notifySecretSet.APPROVALS_WEBHOOK_URL ? webhookUrlSecret.properties.secretUriWithVersion : ''
  APPROVALS_WEBHOOK_SECRET: notifySecretSet.APPROVALS_WEBHOOK_SECRET ? webhookSecretSecret.properties.secretUriWithVersion : ''
  APPROVALS_CALLBACK_SECRET: notifySecretSet.APPROVALS_CALLBACK_SECRET ? callbackSecretSecret.properties.secretUriWithVersion : ''
}
// The audit keys' versioned URIs, empty for a key that is not set.
output auditKeySecretUri string = auditKeySet.APPROVALS_AUDIT_KEY ? auditKeySecret.properties.secretUriWithVersion : ''
output auditKeyPreviousSecretUri string = auditKeySet.APPROVALS_AUDIT_KEY_PREVIOUS ? auditKeyPreviousSecret.properties.secretUriWithVersion : ''
