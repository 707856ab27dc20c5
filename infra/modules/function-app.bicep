// The Function App that runs the Go custom handler (azd service "api") on
// the Flex Consumption plan.

@description('Name of the Function App.')
param name string

@description('Name of its Flex Consumption plan.')
param planName string

@description('Azure region of the app and its plan.')
param location string

@description('Tags for the app and its plan.')
param tags object

@description('azd service name, written to the azd-service-name tag so `azd deploy` finds the app.')
param serviceName string

@description('Resource id of the user-assigned identity the app runs as.')
param identityId string

@description('Client id of that identity.')
param identityClientId string

@description('Object id of that identity.')
param identityPrincipalId string

@description('Name of the storage account used as AzureWebJobsStorage.')
param storageAccountName string

@description('URL of the blob container Flex Consumption deploys packages from.')
param deploymentContainerUrl string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Endpoint of the Durable Task Scheduler (https://...).')
param schedulerEndpoint string

@description('Name of the task hub.')
param taskHubName string

@description('Public base URL for links in API responses; empty means the app\'s own https URL.')
param publicBaseUrl string = ''

@description('Log level of the handler: debug, info, warn or error.')
param logLevel string = 'info'

@description('Versioned URI of the Key Vault secret holding the key the approval links are signed with.')
param linkKeySecretUri string

@description('Versioned URI of the Key Vault secret holding the key before the last rotation (the current key when no rotation is under way).')
param linkKeyPreviousSecretUri string

@description('Versioned URI of the Key Vault secret holding the audit key (APPROVALS_AUDIT_KEY); empty when the audit is off.')
param auditKeySecretUri string = ''

@description('Versioned URI of the Key Vault secret holding the audit key before the last rotation; empty outside a rotation.')
param auditKeyPreviousSecretUri string = ''

@description('Application (client) id of the Microsoft Entra app registration people sign in with. Empty leaves App Service Authentication off.')
param authClientId string = ''

@description('Directory (tenant) id of that app registration.')
param authTenantId string

@description('CIDR ranges, comma-separated, that a start\'s callback_url may point into beyond public addresses (APPROVALS_CALLBACK_ALLOW), as the worker that sends the callbacks reads them. Empty allows public addresses only.')
param callbackAllow string = ''

@description('Memory of each instance. The handler is a small Go binary; 512 MB is plenty and the cheapest.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 512

// The platform's default scales out once a few requests run at once on an
// instance, a figure sized for language workers that handle one request per
// thread or event loop. The Go handler serves every request on a goroutine of
// one process, and each spends its time waiting on the scheduler, not on the
// CPU, so one instance holds many more; a higher figure saves instances and
// the cold starts that come with them.
@description('Concurrent HTTP requests one instance takes before Flex Consumption adds another.')
@minValue(1)
@maxValue(1000)
param httpPerInstanceConcurrency int = 100

@description('Upper bound on instances the plan scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 40

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource site 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // Key Vault references in the app settings resolve with this identity,
    // which holds Key Vault Secrets User on the vault; without it the
    // platform would try a system-assigned identity the app does not have.
    keyVaultReferenceIdentity: identityId
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        instanceMemoryMB: instanceMemoryMB
        maximumInstanceCount: maximumInstanceCount
        triggers: {
          http: {
            perInstanceConcurrency: httpPerInstanceConcurrency
          }
        }
      }
      // "custom" is the custom handler stack: the host starts the executable
      // named in host.json (customHandler.description.defaultExecutablePath).
      // On Flex Consumption the runtime is set here, never through the
      // FUNCTIONS_WORKER_RUNTIME or FUNCTIONS_EXTENSION_VERSION app settings,
      // which the plan rejects.
      runtime: {
        name: 'custom'
        version: '1.0'
      }
    }
  }
}

var siteUrl = 'https://${site.properties.defaultHostName}'
var publicUrl = empty(publicBaseUrl) ? siteUrl : publicBaseUrl

// Sign-in with Microsoft Entra ID is on when an app registration is given.
var authEnabled = !empty(authClientId)

// App Service Authentication ("Easy Auth"), the v2 configuration. It runs in
// front of the Functions host on every path; no path is excluded from it.
// On each request it validates what the caller presents (the session cookie
// of a person it signed in, or an access token for the app), strips any
// X-MS-CLIENT-PRINCIPAL* headers the client sent, and passes the
// authenticated principal on in those headers, which the handler reads with
// APPROVALS_IDENTITY=appservice. Learn says no more of excludedPaths than
// that such paths are not redirected to sign in, nothing of what happens to
// those headers there, so a path that takes a decider is never excluded
// (infra/auth_test.go checks this against the function.json routes).
// - Anonymous requests go through (AllowAnonymous): a function key alone
//   still starts, reads and lists approvals on the /api/approvals routes,
//   as Logic Apps, scripts and the console client do. Who may do more is
//   the handler's to say: it answers a decision or a withdrawal without a
//   principal 401, and sends a browser opening a review page or the inbox
//   without one to sign in (/.auth/login/aad) and back.
// - Machine callers that decide or withdraw send an access token for the
//   app (Authorization: Bearer) with their function key: a script's
//   service principal, a Logic App's managed identity. allowedAudiences
//   lists what such a token's aud may be: api://<client id>, the app's
//   Application ID URI, which callers ask tokens for (and a v1.0 token
//   carries), and the client id, which a v2.0 token carries. docs/deploy.md
//   has the app registration issue v2.0 tokens, whose issuer is the one
//   below. The handler wants the app role Approvals.Decide on an
//   application's token, since Entra ID gives any application of the
//   tenant a token for the app when asked.
// - No client secret: without one, sign-in uses the OpenID Connect implicit
//   flow and receives only an ID token (posted back with form_post), which is
//   all sign-in needs. The app calls no API on the user's behalf, so there is
//   no code to redeem, no secret to store in Key Vault and none to expire.
//   The app registration must allow ID tokens (see docs/deploy.md).
// - The issuer is the tenant's v2.0 endpoint, so only accounts of that
//   tenant (members and invited guests) sign in; which of them may decide a
//   given approval is the handler's check.
// - Token store off: nothing reads the stored tokens (the handler takes the
//   principal from the headers, which come from the session cookie), the
//   implicit flow leaves only an ID token to store, and Flex Consumption has
//   no persistent file system for the default file-based store; the
//   alternative, a blob container, needs a SAS URL, a secret.
resource auth 'Microsoft.Web/sites/config@2024-04-01' = if (authEnabled) {
  parent: site
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: false
      unauthenticatedClientAction: 'AllowAnonymous'
    }
    httpSettings: {
      requireHttps: true
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: authClientId
          openIdIssuer: '${environment().authentication.loginEndpoint}${authTenantId}/v2.0'
        }
        validation: {
          allowedAudiences: [
            'api://${authClientId}'
            authClientId
          ]
        }
      }
    }
    login: {
      tokenStore: {
        enabled: false
      }
    }
  }
}

// Every setting below is either a platform setting (AzureWebJobsStorage__*,
// APPLICATIONINSIGHTS_*) or a name the handler reads (config.Handler and
// dts.Settings); infra/infra_test.go checks this against the Go struct tags.
// None carries a secret: storage, telemetry and the scheduler are all reached
// with the user-assigned identity, and the link and audit keys are Key Vault
// references, resolved by the platform with that identity.
var appSettings = {
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  DURABLE_TASK_SCHEDULER_CONNECTION_STRING: 'Endpoint=${schedulerEndpoint};TaskHub=${taskHubName};Authentication=ManagedIdentity;ClientID=${identityClientId}'
  TASKHUB_NAME: taskHubName
  APPROVALS_PUBLIC_BASE_URL: publicUrl
  APPROVALS_LOG_LEVEL: logLevel
  // appservice trusts the X-MS-CLIENT-PRINCIPAL* headers, which is safe only
  // behind App Service Authentication; body is the identity the request
  // names, as without sign-in.
  APPROVALS_IDENTITY: authEnabled ? 'appservice' : 'body'
  APPROVALS_LINK_KEY: '@Microsoft.KeyVault(SecretUri=${linkKeySecretUri})'
  // The current key again outside a rotation (keyvault.bicep).
  APPROVALS_LINK_KEY_PREVIOUS: '@Microsoft.KeyVault(SecretUri=${linkKeyPreviousSecretUri})'
  // A start's callback_url is checked against the ranges the worker will
  // send to, so one it would refuse is refused at the start, not when the
  // approval ends. Empty, as without it: public addresses only.
  APPROVALS_CALLBACK_ALLOW: callbackAllow
  // The audit routes seal trails with this key; empty turns them off.
  APPROVALS_AUDIT_KEY: empty(auditKeySecretUri) ? '' : '@Microsoft.KeyVault(SecretUri=${auditKeySecretUri})'
  APPROVALS_AUDIT_KEY_PREVIOUS: empty(auditKeyPreviousSecretUri) ? '' : '@Microsoft.KeyVault(SecretUri=${auditKeyPreviousSecretUri})'
}

resource siteAppSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: appSettings
  // The handler is told to trust the principal headers only once the
  // authentication that sets them is in place; the two writes to the site's
  // configuration also never race.
  dependsOn: [
    auth
  ]
}

// The host sends telemetry with the identity (APPLICATIONINSIGHTS_AUTHENTICATION_STRING);
// Application Insights has local auth disabled, so it needs this role.
var monitoringMetricsPublisher = '3913510d-42f4-4e42-8a64-420c390055eb'

resource telemetryPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(applicationInsights.id, identityPrincipalId, monitoringMetricsPublisher)
  scope: applicationInsights
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringMetricsPublisher)
    principalId: identityPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output name string = site.name
output url string = siteUrl
output publicUrl string = publicUrl
