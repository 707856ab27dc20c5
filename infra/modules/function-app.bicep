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

// Every setting below is either a platform setting (AzureWebJobsStorage__*,
// APPLICATIONINSIGHTS_*) or a name the handler reads (config.Handler and
// dts.Settings); infra/infra_test.go checks this against the Go struct tags.
// None carries a secret: storage, telemetry and the scheduler are all reached
// with the user-assigned identity.
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
}

resource siteAppSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: site
  name: 'appsettings'
  properties: appSettings
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
