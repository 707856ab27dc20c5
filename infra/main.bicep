// Everything `azd up` creates for the approvals app: a resource group holding
// the Durable Task Scheduler and its task hub, the Function App that runs the
// HTTP API (azd service "api"), the Container App that runs the worker (azd
// service "worker"), their identities and roles, the Key Vault holding the
// approval links' signing key, a registry, and monitoring.
//
// Deployed at subscription scope so the resource group is part of the
// template and `azd down` removes everything at once.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; it seeds the resource names.')
param environmentName string

@minLength(1)
@description('Azure region for all resources. Pick one that offers Flex Consumption and the Durable Task Scheduler.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@description('Object id of the person (or service principal) running azd. When set, it gets Durable Task Data Contributor on the task hub so the dashboard and local runs against Azure work.')
param principalId string = ''

@description('Kind of principal principalId names. azd sets it.')
@allowed([
  'User'
  'ServicePrincipal'
])
param principalType string = 'User'

@description('Region of the Durable Task Scheduler, when it must differ from location.')
param schedulerLocation string = location

@description('Scheduler SKU: Consumption (pay per action) or Dedicated (fixed price per capacity unit).')
@allowed([
  'Consumption'
  'Dedicated'
])
param schedulerSkuName string = 'Consumption'

@description('Capacity units of a Dedicated scheduler; ignored for Consumption.')
@minValue(1)
param schedulerCapacity int = 1

@description('CIDR ranges allowed to reach the scheduler. It must not be empty: an empty list denies everyone, the apps included. Access is still gated by Microsoft Entra ID roles.')
@minLength(1)
param schedulerIpAllowlist array = [
  '0.0.0.0/0'
]

@description('Name of the task hub the handler and the worker share.')
param taskHubName string = 'approvals'

@description('Public base URL of the API for links in responses and notifications (for example behind a custom domain). Empty means the Function App\'s own https URL.')
param publicBaseUrl string = ''

@description('Log level of both binaries.')
@allowed([
  'debug'
  'info'
  'warn'
  'error'
])
param logLevel string = 'info'

@description('Whether the worker\'s container app exists already (azd sets SERVICE_WORKER_RESOURCE_EXISTS); then its current image is kept.')
param workerExists bool = false

@description('Most worker replicas. One always runs; the scheduler\'s KEDA scaler adds more, up to this, while work items wait in the task hub.')
@minValue(1)
@maxValue(10)
param workerMaxReplicas int = 5

@description('Application (client) id of a Microsoft Entra app registration (AUTH_CLIENT_ID). When set, people sign in with Microsoft Entra ID before they see an approval page, and the handler takes the decider from the signed-in principal. Empty leaves sign-in off.')
param authClientId string = ''

@description('Directory (tenant) id of that app registration (AUTH_TENANT_ID). Empty means the tenant azd deploys to.')
param authTenantId string = ''

// No default, and never passed to an output. The key that is deployed is
// the preprovision hook's (cmd/linkkey): it generates APPROVALS_LINK_KEY
// once, keeps it in the azd environment, and main.parameters.json passes it
// here, so every provision writes the same key to Key Vault. But azd reads
// and resolves the parameters once before it runs that hook, when a new
// environment has no key yet; without a value then it would prompt for this
// one, and fail under --no-prompt. The `generate` metadata makes azd fill
// it in itself instead (once, kept in the environment's config as
// infra.parameters.linkKey). A value from main.parameters.json comes first
// in azd's resolution, so from the hook's first run on, in the same
// provision, the hook's key is the one deployed; azd's stands in only where
// APPROVALS_LINK_KEY is empty (a first `azd provision --preview`, say).
// config: 64 letters and digits, nothing that needs quoting anywhere.
@description('Key the approval links are signed with (APPROVALS_LINK_KEY), at least 32 bytes.')
@secure()
@minLength(32)
@metadata({
  azd: {
    type: 'generate'
    config: {
      length: 64
      noSpecial: true
    }
  }
})
param linkKey string

@description('Key before the last rotation (APPROVALS_LINK_KEY_PREVIOUS), still accepted for links already sent. Empty when no rotation is under way.')
@secure()
param linkKeyPrevious string = ''

// The audit (config.AuditKeys): the key that seals each ended approval's
// audit trail, an Ed25519 seed in base64 (`openssl rand -base64 32`), put
// in the azd environment with `azd env set APPROVALS_AUDIT_KEY`, and the
// one before the last rotation. Empty leaves the audit routes and the
// export off. Written to Key Vault; the apps read them as references.
@description('Key that seals the audit trails (APPROVALS_AUDIT_KEY): 32 random bytes, base64. Empty turns the audit off.')
@secure()
param auditKey string = ''

@description('Audit key before the last rotation (APPROVALS_AUDIT_KEY_PREVIOUS), whose public key the handler still publishes. Empty outside a rotation.')
@secure()
param auditKeyPrevious string = ''

@description('Days each exported audit trail is kept immutable in the audit container (time-based retention); 0 sets no policy.')
@minValue(0)
param auditRetentionDays int = 0

// Notifications (config.Notify, read by the worker). Each is optional and
// empty by default, and an empty one never reaches the worker's environment:
// the worker keeps its own default, so a deployment that sets none runs as
// one without notifications did, logging each approval link. The secrets
// among them are written to Key Vault (only when set) and reach the worker
// as Key Vault references, never as values in its configuration or in an
// output; their empty defaults put no secret in the repository.
@description('Channels the worker tells approvers through, comma-separated: log, email, teams, slack, webhook (APPROVALS_NOTIFY). Empty means log.')
param notifyChannels string = ''

@description('SMTP server of the email channel (APPROVALS_SMTP_HOST), for example smtp.azurecomm.net for Azure Communication Services.')
param smtpHost string = ''

@description('Port of the SMTP server (APPROVALS_SMTP_PORT). Empty means the usual port of smtpSecurity: 587, 465 or 25.')
param smtpPort string = ''

@description('starttls, tls (TLS from the first byte) or none (APPROVALS_SMTP_SECURITY). Empty means starttls.')
param smtpSecurity string = ''

@description('SMTP user name (APPROVALS_SMTP_USERNAME). Empty means no authentication.')
param smtpUsername string = ''

@description('Password of the SMTP user (APPROVALS_SMTP_PASSWORD), kept in Key Vault.')
@secure()
param smtpPassword string = ''

@description('Sender of the e-mails (APPROVALS_SMTP_FROM), "Approvals <approvals@example.com>" or a bare address.')
param smtpFrom string = ''

@description('Addresses, comma-separated, that get the e-mails for approvers who are not e-mail addresses (APPROVALS_SMTP_TO).')
param smtpTo string = ''

@description('Teams Workflows webhook URL (APPROVALS_TEAMS_WEBHOOK_URL), kept in Key Vault: whoever holds it can post.')
@secure()
param teamsWebhookUrl string = ''

@description('Slack incoming webhook URL (APPROVALS_SLACK_WEBHOOK_URL), kept in Key Vault: whoever holds it can post.')
@secure()
param slackWebhookUrl string = ''

@description('URL that receives each notification as signed JSON (APPROVALS_WEBHOOK_URL), kept in Key Vault.')
@secure()
param webhookUrl string = ''

@description('Key the webhook notifications are signed with, at least 32 bytes (APPROVALS_WEBHOOK_SECRET), kept in Key Vault.')
@secure()
param webhookSecret string = ''

@description('CIDR ranges, comma-separated, that the Teams, Slack and webhook URLs may reach beyond public addresses, plain http included (APPROVALS_NOTIFY_ALLOW).')
param notifyAllow string = ''

@description('CIDR ranges, comma-separated, that a start\'s callback_url may point into beyond public addresses, plain http included (APPROVALS_CALLBACK_ALLOW). Both apps read it.')
param callbackAllow string = ''

@description('Key the approval callbacks are signed with, at least 32 bytes (APPROVALS_CALLBACK_SECRET), kept in Key Vault. Empty sends them unsigned.')
@secure()
param callbackSecret string = ''

var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = {
  'azd-env-name': environmentName
}

var workerAppName = 'ca-worker-${resourceToken}'
var placeholderImage = 'mcr.microsoft.com/azuredocs/containerapps-helloworld:latest'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module monitoring './modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: 'log-${resourceToken}'
    applicationInsightsName: 'appi-${resourceToken}'
  }
}

// One identity per app, so each holds only its own roles.
module apiIdentity './modules/identity.bicep' = {
  name: 'api-identity'
  scope: rg
  params: {
    name: 'id-api-${resourceToken}'
    location: location
    tags: tags
  }
}

module workerIdentity './modules/identity.bicep' = {
  name: 'worker-identity'
  scope: rg
  params: {
    name: 'id-worker-${resourceToken}'
    location: location
    tags: tags
  }
}

module scheduler './modules/scheduler.bicep' = {
  name: 'scheduler'
  scope: rg
  params: {
    name: 'dts-${resourceToken}'
    location: schedulerLocation
    tags: tags
    taskHubName: taskHubName
    skuName: schedulerSkuName
    capacity: schedulerCapacity
    ipAllowlist: schedulerIpAllowlist
  }
}

// The handler starts orchestrations, raises events and reads their status:
// Durable Task Data Contributor on the task hub.
module apiTaskHubRole './modules/taskhub-role.bicep' = {
  name: 'api-taskhub-role'
  scope: rg
  params: {
    schedulerName: scheduler.outputs.schedulerName
    taskHubName: scheduler.outputs.taskHubName
    principalId: apiIdentity.outputs.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: '0ad04412-c4d5-4796-b79c-f76d14c8d402' // Durable Task Data Contributor
  }
}

// The worker only takes and completes work items: Durable Task Worker.
module workerTaskHubRole './modules/taskhub-role.bicep' = {
  name: 'worker-taskhub-role'
  scope: rg
  params: {
    schedulerName: scheduler.outputs.schedulerName
    taskHubName: scheduler.outputs.taskHubName
    principalId: workerIdentity.outputs.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: '80d0d6b0-f522-40a4-8886-a5a11720c375' // Durable Task Worker
  }
}

// The worker's scale rules read the task hub's backlog with the worker's
// identity. Nothing published says Durable Task Worker covers that: Learn
// describes it for apps that only process orchestrations and activities, the
// scaler's source is not public, and Microsoft's autoscaling sample gives its
// scaler identity Durable Task Data Contributor, which can also start, raise
// events and purge. Durable Task Data Reader adds reading orchestrations and
// their metadata, and nothing that changes the task hub; the worker's notices
// also read people's delegations (each a small orchestration) with it.
module workerTaskHubReaderRole './modules/taskhub-role.bicep' = {
  name: 'worker-taskhub-reader-role'
  scope: rg
  params: {
    schedulerName: scheduler.outputs.schedulerName
    taskHubName: scheduler.outputs.taskHubName
    principalId: workerIdentity.outputs.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: 'd6a5505f-6ebb-45a4-896e-ac8274cfc0ac' // Durable Task Data Reader
  }
}

// The person running azd, for the dashboard and for running the binaries
// locally against this task hub.
module userTaskHubRole './modules/taskhub-role.bicep' = if (!empty(principalId)) {
  name: 'user-taskhub-role'
  scope: rg
  params: {
    schedulerName: scheduler.outputs.schedulerName
    taskHubName: scheduler.outputs.taskHubName
    principalId: principalId
    principalType: principalType
    roleDefinitionId: '0ad04412-c4d5-4796-b79c-f76d14c8d402' // Durable Task Data Contributor
  }
}

module storage './modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: 'st${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: 'app-package'
    functionPrincipalId: apiIdentity.outputs.principalId
    auditContainerName: 'audit'
    workerPrincipalId: workerIdentity.outputs.principalId
    auditRetentionDays: auditRetentionDays
  }
}

// The approval links' signing key and the notification secrets that are
// set. Both apps may read its secrets, nothing more.
module keyVault './modules/keyvault.bicep' = {
  name: 'key-vault'
  scope: rg
  params: {
    name: 'kv-${resourceToken}'
    location: location
    tags: tags
    linkKey: linkKey
    linkKeyPrevious: linkKeyPrevious
    auditKey: auditKey
    auditKeyPrevious: auditKeyPrevious
    smtpPassword: smtpPassword
    teamsWebhookUrl: teamsWebhookUrl
    slackWebhookUrl: slackWebhookUrl
    webhookUrl: webhookUrl
    webhookSecret: webhookSecret
    callbackSecret: callbackSecret
    apiPrincipalId: apiIdentity.outputs.principalId
    workerPrincipalId: workerIdentity.outputs.principalId
  }
}

module api './modules/function-app.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: 'func-${resourceToken}'
    planName: 'plan-${resourceToken}'
    location: location
    tags: tags
    serviceName: 'api'
    identityId: apiIdentity.outputs.id
    identityClientId: apiIdentity.outputs.clientId
    identityPrincipalId: apiIdentity.outputs.principalId
    storageAccountName: storage.outputs.name
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    schedulerEndpoint: scheduler.outputs.endpoint
    taskHubName: scheduler.outputs.taskHubName
    publicBaseUrl: publicBaseUrl
    logLevel: logLevel
    linkKeySecretUri: keyVault.outputs.linkKeySecretUri
    linkKeyPreviousSecretUri: keyVault.outputs.linkKeyPreviousSecretUri
    auditKeySecretUri: keyVault.outputs.auditKeySecretUri
    auditKeyPreviousSecretUri: keyVault.outputs.auditKeyPreviousSecretUri
    authClientId: authClientId
    authTenantId: empty(authTenantId) ? tenant().tenantId : authTenantId
    callbackAllow: callbackAllow
  }
}

module registry './modules/registry.bicep' = {
  name: 'registry'
  scope: rg
  params: {
    name: 'cr${resourceToken}'
    location: location
    tags: tags
    pullPrincipalId: workerIdentity.outputs.principalId
  }
}

module containerAppsEnvironment './modules/container-apps-environment.bicep' = {
  name: 'container-apps-environment'
  scope: rg
  params: {
    name: 'cae-${resourceToken}'
    location: location
    tags: tags
    logAnalyticsId: monitoring.outputs.logAnalyticsId
  }
}

module workerImage './modules/container-image.bicep' = {
  name: 'worker-image'
  scope: rg
  params: {
    exists: workerExists
    name: workerAppName
  }
}

module worker './modules/worker-app.bicep' = {
  name: 'worker'
  scope: rg
  params: {
    name: workerAppName
    location: location
    tags: tags
    serviceName: 'worker'
    environmentId: containerAppsEnvironment.outputs.id
    identityId: workerIdentity.outputs.id
    identityClientId: workerIdentity.outputs.clientId
    registryLoginServer: registry.outputs.loginServer
    image: empty(workerImage.outputs.image) ? placeholderImage : workerImage.outputs.image
    schedulerEndpoint: scheduler.outputs.endpoint
    taskHubName: scheduler.outputs.taskHubName
    apiBaseUrl: api.outputs.publicUrl
    logLevel: logLevel
    maxReplicas: workerMaxReplicas
    linkKeySecretUri: keyVault.outputs.linkKeySecretUri
    auditKeySecretUri: keyVault.outputs.auditKeySecretUri
    auditContainerUrl: storage.outputs.auditContainerUrl
    notifyChannels: notifyChannels
    smtpHost: smtpHost
    smtpPort: smtpPort
    smtpSecurity: smtpSecurity
    smtpUsername: smtpUsername
    smtpFrom: smtpFrom
    smtpTo: smtpTo
    notifyAllow: notifyAllow
    callbackAllow: callbackAllow
    smtpPasswordSecretUri: keyVault.outputs.notifySecretUris.APPROVALS_SMTP_PASSWORD
    teamsWebhookUrlSecretUri: keyVault.outputs.notifySecretUris.APPROVALS_TEAMS_WEBHOOK_URL
    slackWebhookUrlSecretUri: keyVault.outputs.notifySecretUris.APPROVALS_SLACK_WEBHOOK_URL
    webhookUrlSecretUri: keyVault.outputs.notifySecretUris.APPROVALS_WEBHOOK_URL
    webhookSecretSecretUri: keyVault.outputs.notifySecretUris.APPROVALS_WEBHOOK_SECRET
    callbackSecretSecretUri: keyVault.outputs.notifySecretUris.APPROVALS_CALLBACK_SECRET
  }
}

// azd stores these in .azure/<environment>/.env; read them with
// `azd env get-value NAME`. None is a secret.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_CONTAINER_REGISTRY_ENDPOINT string = registry.outputs.loginServer
output AZURE_CONTAINER_REGISTRY_NAME string = registry.outputs.name
output API_BASE_URL string = api.outputs.url
output FUNCTION_APP_NAME string = api.outputs.name
output WORKER_APP_NAME string = worker.outputs.name
output DURABLE_TASK_SCHEDULER_ENDPOINT string = scheduler.outputs.endpoint
output DURABLE_TASK_SCHEDULER_NAME string = scheduler.outputs.schedulerName
output TASKHUB_NAME string = scheduler.outputs.taskHubName
output DURABLE_TASK_SCHEDULER_DASHBOARD_URL string = scheduler.outputs.dashboardUrl
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AUDIT_CONTAINER_URL string = storage.outputs.auditContainerUrl
// The redirect URI to register on the app registration for sign-in (Web
// platform). Behind a custom domain, register that host's callback too.
output AUTH_REDIRECT_URI string = '${api.outputs.url}/.auth/login/aad/callback'
